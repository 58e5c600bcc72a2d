using System.Net;
using System.Net.Sockets;

namespace Sockeye.Tests.Support;

/// <summary>Client-side helpers for loopback tests; every wait is bounded.</summary>
internal static class Loopback
{
    /// <summary>The longest any single awaited signal in a test may take before the test fails.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>A loopback port that was free a moment ago, for a child process's option that must be
    /// given a port (<c>--metrics-port</c>) or a peer's configuration (HAProxy's frontend).</summary>
    public static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    public static async Task<Socket> ConnectAsync(EndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint).WaitAsync(Patience);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static async Task SendAllAsync(this Socket socket, ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data).AsTask().WaitAsync(Patience);
            data = data[sent..];
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes, or throws if the peer closes first.</summary>
    public static async Task<byte[]> ReceiveExactlyAsync(this Socket socket, int count, TimeSpan? within = null)
    {
        var buffer = new byte[count];
        var read = 0;
        using var timeout = new CancellationTokenSource(within ?? Patience);
        while (read < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, timeout.Token);
            if (n == 0)
            {
                throw new EndOfStreamException($"the peer closed after {read} of {count} bytes");
            }

            read += n;
        }

        return buffer;
    }

    /// <summary>
    /// Waits for the peer to end the connection and says how: 0 for an orderly close (FIN), or the
    /// socket error (for example ConnectionReset).
    /// </summary>
    public static async Task<SocketError> ReceiveEndAsync(this Socket socket, TimeSpan? within = null)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(within ?? Patience);
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0)
            {
            }

            return SocketError.Success;
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode;
        }
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <see cref="Patience"/> runs out.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting until {what}");
            }

            await Task.Delay(10);
        }
    }
}
