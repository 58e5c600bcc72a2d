using System.Net;
using System.Net.Sockets;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Dialing;

/// <summary>
/// A loopback server (port 0) that accepts one connection and then neither reads nor writes unless a
/// test tells it to: the server that never answers a dialed connection's request, and, with its small
/// receive window, the peer that never reads what the dialed connection sends.
/// </summary>
internal sealed class SilentPeer : IDisposable
{
    private readonly Socket _listener;
    private readonly Task<Socket> _accepted;

    public SilentPeer()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        // Set on the listener so the accepted socket advertises a small window from its SYN-ACK on.
        _listener.ReceiveBufferSize = 32 * 1024;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1);
        _accepted = _listener.AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>The server's side of the one connection, once accepted.</summary>
    public Task<Socket> Accepted => _accepted.WaitAsync(Loopback.Patience);

    public void Dispose()
    {
        _listener.Dispose();
        if (_accepted.IsCompletedSuccessfully)
        {
            _accepted.Result.Dispose();
        }
    }
}
