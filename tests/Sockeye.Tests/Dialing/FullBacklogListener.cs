using System.Net;
using System.Net.Sockets;

namespace Sockeye.Tests.Dialing;

/// <summary>
/// A loopback listener that never accepts, with <c>listen(1)</c> and its accept queue filled, so a new
/// connect's SYN is dropped and the connect neither completes nor fails: the stand-in for an
/// unreachable host, without leaving the machine.
/// </summary>
internal sealed class FullBacklogListener : IDisposable
{
    private readonly Socket _listener;
    private readonly List<Socket> _fillers = [];

    private FullBacklogListener(Socket listener)
    {
        _listener = listener;
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    public static async Task<FullBacklogListener> StartAsync(IPAddress address, int port = 0)
    {
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(address, port));
        listener.Listen(1);
        var full = new FullBacklogListener(listener);

        // Linux queues backlog + 1 connections; open them until one connect hangs. A connect to an
        // open loopback port completes in well under a millisecond, so 1 s of silence means "dropped".
        for (var i = 0; i < 64; i++)
        {
            var filler = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await filler.ConnectAsync(full.EndPoint).WaitAsync(TimeSpan.FromSeconds(1));
                full._fillers.Add(filler);
            }
            catch (TimeoutException)
            {
                filler.Dispose();
                return full;
            }
        }

        full.Dispose();
        throw new InvalidOperationException("the listen backlog never filled: 64 connects all completed");
    }

    public void Dispose()
    {
        foreach (var filler in _fillers)
        {
            filler.Dispose();
        }

        _listener.Dispose();
    }
}
