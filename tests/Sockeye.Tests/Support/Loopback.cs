using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
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

    /// <summary>A client socket connected to <paramref name="endPoint"/> (from <paramref name="from"/>,
    /// one of the 127/8 addresses, when a test needs several clients), with Nagle off.</summary>
    public static async Task<Socket> ConnectAsync(EndPoint endPoint, IPAddress? from = null)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (from is not null)
            {
                socket.Bind(new IPEndPoint(from, 0));
            }

            await socket.ConnectAsync(endPoint).WaitAsync(Patience);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Connects and waits for the server to end the connection, and says how (see
    /// <see cref="ReceiveEndAsync"/>); a reset can come so soon that the connect itself reports it.
    /// </summary>
    public static async Task<SocketError> ConnectAndReceiveEndAsync(EndPoint endPoint, IPAddress? from = null)
    {
        try
        {
            using var socket = await ConnectAsync(endPoint, from);
            return await socket.ReceiveEndAsync();
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode;
        }
    }

    /// <summary>Sends every byte of <paramref name="data"/>, each send bounded by <see cref="Patience"/>.</summary>
    public static async Task SendAllAsync(this Socket socket, ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data).AsTask().WaitAsync(Patience);
            data = data[sent..];
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes, or throws if the peer closes first or
    /// they do not come within <paramref name="within"/> (default <see cref="Patience"/>).</summary>
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

    /// <summary>The same as the socket's <see cref="ReceiveExactlyAsync(Socket, int, TimeSpan?)"/>, for a
    /// client that talks through a stream (<see cref="TcpClient.GetStream"/>, an <c>SslStream</c>).</summary>
    public static async Task<byte[]> ReceiveExactlyAsync(this Stream stream, int count, TimeSpan? within = null)
    {
        var buffer = new byte[count];
        using var timeout = new CancellationTokenSource(within ?? Patience);
        try
        {
            await stream.ReadExactlyAsync(buffer, timeout.Token);
        }
        catch (EndOfStreamException)
        {
            throw new EndOfStreamException($"the peer closed before {count} bytes arrived");
        }

        return buffer;
    }

    /// <summary>The same as the socket's <see cref="ReceiveExactlyAsync(Socket, int, TimeSpan?)"/>, for a
    /// dialed <see cref="Connection"/>'s input: takes exactly <paramref name="count"/> bytes out of the
    /// pipe and leaves whatever came after them.</summary>
    public static async Task<byte[]> ReceiveExactlyAsync(this PipeReader input, int count, TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? Patience);
        while (true)
        {
            var result = await input.ReadAsync(timeout.Token);
            if (result.Buffer.Length >= count)
            {
                var bytes = result.Buffer.Slice(0, count);
                var copy = bytes.ToArray();
                input.AdvanceTo(bytes.End);
                return copy;
            }

            if (result.IsCompleted)
            {
                var read = result.Buffer.Length;
                input.AdvanceTo(result.Buffer.End);
                throw new EndOfStreamException($"the peer closed after {read} of {count} bytes");
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>
    /// Waits for the peer to end the connection and says how: 0 for an orderly close (FIN), or the
    /// socket error (for example ConnectionReset). Bytes that come before the end are read and dropped.
    /// </summary>
    public static async Task<SocketError> ReceiveEndAsync(this Socket socket, TimeSpan? within = null) =>
        (await ReceiveToEndAsync(socket, within)).End;

    /// <summary>
    /// Reads until the peer ends the connection; says how many bytes came first (a test that expects
    /// nothing more asserts 0) and how it ended (<see cref="SocketError.Success"/> for a FIN).
    /// </summary>
    public static async Task<(long Received, SocketError End)> ReceiveToEndAsync(this Socket socket, TimeSpan? within = null)
    {
        var buffer = new byte[4096];
        long received = 0;
        using var timeout = new CancellationTokenSource(within ?? Patience);
        try
        {
            int n;
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                received += n;
            }

            return (received, SocketError.Success);
        }
        catch (SocketException ex)
        {
            return (received, ex.SocketErrorCode);
        }
    }

    /// <summary>The same as the socket's <see cref="ReceiveToEndAsync(Socket, TimeSpan?)"/>, for a
    /// client that talks through a stream.</summary>
    public static async Task<(long Received, SocketError End)> ReceiveToEndAsync(this Stream stream, TimeSpan? within = null)
    {
        var buffer = new byte[4096];
        long received = 0;
        using var timeout = new CancellationTokenSource(within ?? Patience);
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received += n;
            }

            return (received, SocketError.Success);
        }
        catch (IOException ex) when (!timeout.IsCancellationRequested)
        {
            // A NetworkStream wraps the socket's error; another stream may not say.
            return (received, ex.InnerException is SocketException socketError ? socketError.SocketErrorCode : SocketError.ConnectionReset);
        }
    }

    /// <summary>
    /// Polls <paramref name="condition"/> every <paramref name="every"/> (default 10 ms) until it holds;
    /// throws a <see cref="TimeoutException"/> naming <paramref name="what"/> once <paramref name="within"/>
    /// (default <see cref="Patience"/>) has passed. The one poll-until of the tests: for a signal that
    /// has no event to await.
    /// </summary>
    public static Task EventuallyAsync(Func<bool> condition, string what, TimeSpan? every = null, TimeSpan? within = null) =>
        EventuallyAsync(() => Task.FromResult(condition()), what, every, within);

    /// <summary>The same, for a condition that must itself wait (a connect, a scrape); each probe
    /// should be bounded by its own timeout, as the loopback helpers are.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, TimeSpan? every = null, TimeSpan? within = null)
    {
        var limit = within ?? Patience;
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"timed out after {limit.TotalSeconds:0.###} s waiting until {what}");
            }

            await Task.Delay(every ?? TimeSpan.FromMilliseconds(10));
        }
    }
}
