using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Sockeye.Tests.Support;
using Sockeye.Transport;

namespace Sockeye.Tests.Deadlines;

/// <summary>Handlers and helpers shared by the deadline tests.</summary>
internal static class DeadlineTestKit
{
    /// <summary>A client of <paramref name="server"/>, with a small receive window when a test needs the
    /// server's sends to back up (Nagle left on, as the deadline tests were written with it).</summary>
    public static async Task<Socket> ConnectAsync(TcpServer server, int? receiveBufferSize = null)
    {
        var socket = new Socket(server.LocalEndPoint!.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (receiveBufferSize is { } size)
        {
            socket.ReceiveBufferSize = size; // before connect, so the window is small from the start
        }

        await socket.ConnectAsync(server.LocalEndPoint!).WaitAsync(Loopback.Patience);
        return socket;
    }

    /// <summary>Sends <paramref name="text"/> as ASCII in one send.</summary>
    public static async Task SendAsync(Socket socket, string text) =>
        await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes(text), SocketFlags.None).WaitAsync(Loopback.Patience);

    /// <summary>The transport's connection behind <paramref name="connection"/>, for its pending-read and
    /// deadline state.</summary>
    public static SocketConnection Internal(Connection connection) => (SocketConnection)connection;
}

/// <summary>
/// A line protocol: replies to each '\n'-terminated line with the line itself. A partial line is
/// examined but not consumed, as a codec does, so it stays one read until its newline arrives.
/// Records the connection and how the handler ended.
/// </summary>
internal sealed class LineEchoHandler
{
    private readonly TaskCompletionSource<Connection> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<Exception?> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Every connection the handler served.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<Connection> All { get; } = new();

    /// <summary>The first connection the handler served.</summary>
    public Task<Connection> Connected => _connected.Task;

    /// <summary>How the first connection's handler ended: null for a clean return.</summary>
    public Task<Exception?> Ended => _ended.Task;

    public async Task HandleAsync(Connection connection)
    {
        All.Enqueue(connection);
        var first = _connected.TrySetResult(connection);
        try
        {
            var input = connection.Input;
            while (true)
            {
                var result = await input.ReadAsync();
                var buffer = result.Buffer;
                var newline = buffer.PositionOf((byte)'\n');
                if (newline is null)
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }

                    continue;
                }

                var line = buffer.Slice(0, buffer.GetPosition(1, newline.Value));
                foreach (var segment in line)
                {
                    connection.Output.Write(segment.Span);
                }

                input.AdvanceTo(line.End);
                await connection.Output.FlushAsync();
            }

            if (first)
            {
                _ended.TrySetResult(null);
            }
        }
        catch (Exception ex)
        {
            if (first)
            {
                _ended.TrySetResult(ex);
            }

            throw;
        }
    }
}

/// <summary>Writes up to <see cref="Total"/> bytes in chunks, flushing after each, and records how far it got.</summary>
internal sealed class FloodWriter(long total, int chunk = 16 * 1024)
{
    private static readonly byte[] Payload = Enumerable.Range(0, 64 * 1024).Select(i => (byte)i).ToArray();
    private readonly TaskCompletionSource<Connection> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<Exception?> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _flushed;

    public long Total { get; } = total;

    public long Flushed => Interlocked.Read(ref _flushed);

    public Task<Connection> Connected => _connected.Task;

    public Task<Exception?> Ended => _ended.Task;

    public async Task HandleAsync(Connection connection)
    {
        _connected.TrySetResult(connection);
        try
        {
            var output = connection.Output;
            for (long sent = 0; sent < Total; sent += chunk)
            {
                output.Write(Payload.AsSpan(0, chunk));
                await output.FlushAsync();
                Interlocked.Add(ref _flushed, chunk);
            }

            _ended.TrySetResult(null);
        }
        catch (Exception ex)
        {
            _ended.TrySetResult(ex);
            throw;
        }
    }
}
