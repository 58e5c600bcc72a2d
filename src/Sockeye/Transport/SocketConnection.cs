using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Sockeye.Transport;

/// <summary>
/// A <see cref="Connection"/> over a connected <see cref="Socket"/>: a receive loop fills
/// <see cref="Input"/>, a send loop drains <see cref="Output"/>.
/// </summary>
/// <remarks>
/// <code>
/// socket ──receive loop──▶ input pipe ──▶ handler ──▶ output pipe ──send loop──▶ socket
/// </code>
/// Both pipes use inline schedulers: bytes read by the receive loop wake the handler on the same
/// thread, and a handler's flush runs the send on its own thread, so a request/response round trip
/// makes no thread-pool hop of ours (Kestrel's <c>UnsafePreferInlineScheduling</c>, measured at +4.7%
/// in dotnet/aspnetcore#24638). The price is that a handler that blocks a thread blocks that loop;
/// handlers are async, and blocking work belongs on a worker pool.
/// </remarks>
internal sealed partial class SocketConnection : Connection
{
    // The least free space handed to one receive; a new 4 KiB block is rented when less remains.
    private const int MinReceiveSize = 2048;

    private static long s_lastId;

    private readonly Socket _socket;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly DeadlinePipeReader _reader;
    private readonly CancellationToken _shutdownRequested;
    private readonly EndPoint? _remoteEndPoint;
    private EndPoint? _localEndPoint;

    private Task _receiveTask = Task.CompletedTask;
    private Task _sendTask = Task.CompletedTask;

    // Created only when someone asks for ConnectionClosed: most handlers never do, and an idle
    // connection should not carry a CancellationTokenSource it does not need.
    private CancellationTokenSource? _closedSource;
    private int _closedFired;
    private int _aborted;
    private string? _abortReason;

    public SocketConnection(Socket socket, PipeOptions inputOptions, PipeOptions outputOptions, CancellationToken shutdownRequested)
    {
        _socket = socket;
        _input = new Pipe(inputOptions);
        _output = new Pipe(outputOptions);
        _reader = new DeadlinePipeReader(this, _input.Reader);
        _shutdownRequested = shutdownRequested;

        // Cached by the socket after accept or connect, so keeping it costs nothing and it stays
        // readable after the socket is closed.
        _remoteEndPoint = socket.RemoteEndPoint;
        Id = Interlocked.Increment(ref s_lastId);
    }

    public override long Id { get; }

    public override EndPoint? LocalEndPoint
    {
        get
        {
            if (_localEndPoint is null)
            {
                try
                {
                    _localEndPoint = _socket.LocalEndPoint;
                }
                catch (ObjectDisposedException)
                {
                }
            }

            return _localEndPoint;
        }
    }

    public override EndPoint? RemoteEndPoint => _remoteEndPoint;

    public override PipeReader Input => _reader;

    public override PipeWriter Output => _output.Writer;

    public override CancellationToken ShutdownRequested => _shutdownRequested;

    public override CancellationToken ConnectionClosed
    {
        get
        {
            var source = Volatile.Read(ref _closedSource);
            if (source is null)
            {
                source = new CancellationTokenSource();
                var existing = Interlocked.CompareExchange(ref _closedSource, source, null);
                if (existing is not null)
                {
                    source.Dispose();
                    source = existing;
                }
                else if (Volatile.Read(ref _closedFired) != 0)
                {
                    source.Cancel();
                }
            }

            return source.Token;
        }
    }

    /// <summary>Whether <see cref="Abort(string)"/> was called.</summary>
    public bool IsAborted => Volatile.Read(ref _aborted) != 0;

    /// <summary>Starts the receive and send loops. Call once.</summary>
    public void Start()
    {
        _receiveTask = ReceiveLoopAsync();
        _sendTask = SendLoopAsync();
    }

    public override void Abort(string reason)
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        _abortReason = reason;
        try
        {
            // Linger 0: close() sends RST and drops unsent bytes instead of lingering in FIN_WAIT.
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        // Closing the socket fails the pending receive and send, which end both loops.
        _socket.Dispose();
        _output.Reader.CancelPendingRead();

        // A receive loop paused on a full input pipe is not in a socket call: wake it too.
        _input.Writer.CancelPendingFlush();
        FireConnectionClosed();
    }

    public override async ValueTask CloseAsync()
    {
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        await _sendTask.ConfigureAwait(false);
    }

    /// <summary>
    /// Ends the connection after its handler returned: flushes and FINs (unless aborted), completes
    /// both pipes, closes the socket, and waits for both loops to end.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        FrameReader?.Dispose(); // frames the handler read are no longer in use

        // The receive loop may be parked in a zero-byte read; closing the socket ends it.
        _socket.Dispose();
        await _receiveTask.ConfigureAwait(false);
        FireConnectionClosed();
    }

    private async Task ReceiveLoopAsync()
    {
        var writer = _input.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                // Wait for data before renting a buffer: an idle connection holds no receive memory.
                await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);

                var buffer = writer.GetMemory(MinReceiveSize);
                var received = await _socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                {
                    break; // FIN: the peer will send no more.
                }

                writer.Advance(received);
                OnReceived(received);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCanceled && IsAborted)
                {
                    error = CreateAbortException(null);
                    break;
                }

                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break; // The handler stopped reading.
                }
            }
        }
        catch (Exception ex)
        {
            error = TranslateError(ex);
        }
        finally
        {
            await writer.CompleteAsync(error).ConfigureAwait(false);
            FireConnectionClosed();
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break; // Abort.
                }

                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    BeginSend();
                    await SendAsync(buffer).ConfigureAwait(false);
                    EndSend();
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            if (!IsAborted)
            {
                _socket.Shutdown(SocketShutdown.Send); // FIN after the last byte.
            }
        }
        catch (Exception ex)
        {
            error = TranslateError(ex);
        }
        finally
        {
            if (IsAborted)
            {
                error ??= CreateAbortException(null);
            }

            // A flush after this sees the failure, so a handler writing to a dead peer stops.
            await reader.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private ValueTask<int> SendAsync(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment)
        {
            return _socket.SendAsync(buffer.First, SocketFlags.None);
        }

        return SendSegmentsAsync(buffer);
    }

    private async ValueTask<int> SendSegmentsAsync(ReadOnlySequence<byte> buffer)
    {
        // One gathered send (sendmsg with an iovec) for a multi-block output instead of one per block.
        var segments = new List<ArraySegment<byte>>();
        foreach (var memory in buffer)
        {
            if (!MemoryMarshal.TryGetArray(memory, out var segment))
            {
                segment = new ArraySegment<byte>(memory.ToArray());
            }

            segments.Add(segment);
        }

        return await _socket.SendAsync(segments, SocketFlags.None).ConfigureAwait(false);
    }

    private string AbortMessage => $"connection {Id} was aborted: {_abortReason}";

    private Exception TranslateError(Exception ex)
    {
        if (IsAborted)
        {
            return ex is ConnectionAbortedException aborted ? aborted : CreateAbortException(ex);
        }

        return ex switch
        {
            SocketException se when SocketErrors.IsConnectionReset(se.SocketErrorCode) =>
                new ConnectionResetException($"connection {Id} was reset by the peer ({se.SocketErrorCode})", se),
            SocketException se when SocketErrors.IsClosedLocally(se.SocketErrorCode) =>
                new ConnectionAbortedException($"connection {Id} was closed", se),
            ObjectDisposedException => new ConnectionAbortedException($"connection {Id} was closed", ex),
            _ => ex,
        };
    }

    private void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref _closedFired, 1) != 0)
        {
            return;
        }

        var source = Volatile.Read(ref _closedSource);
        if (source is not null)
        {
            // Callbacks are the handler's code: run them on the pool, not inside a socket loop.
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Cancel(), source, preferLocal: false);
        }
    }
}
