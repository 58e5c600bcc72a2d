using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Sockeye.Transport;

namespace Sockeye.Security.Internal;

/// <summary>
/// The socket connection's pipes as a <see cref="Stream"/>, for <see cref="System.Net.Security.SslStream"/>
/// to read and write encrypted bytes through: reads come from <see cref="SocketReader"/>, writes go to
/// <see cref="SocketWriter"/> and are sent at once. So TLS reuses the transport as it is: its
/// zero-byte receives, its buffer limits, its idle clock and its send deadlines.
/// </summary>
/// <remarks>
/// <para>A zero-byte read waits until bytes arrive without consuming them, which is how
/// <see cref="System.Net.Security.SslStream"/>'s own zero-byte reads reach the socket: an idle TLS
/// connection holds no buffer on either layer.</para>
/// <para>During the handshake the writes are held in the socket writer and sent before the next read,
/// so each flight is still one send. The last flight (TLS 1.3: the session ticket, which OpenSSL writes
/// after the client's Finished, with no read after it) stays held after the handshake and leaves with
/// the first thing that follows: the handler's first write or flush (one <c>sendmsg</c> for both instead
/// of two), its first read that has to wait, the close_notify, or <see cref="SendHeldAsync"/> once the
/// handler's first synchronous step is over (<see cref="TlsConnection.SendHeldAsync"/>). So a handler
/// that never writes still gets its ticket out as soon as it waits for anything.</para>
/// </remarks>
internal sealed class ConnectionStream(SocketConnection connection) : Stream
{
    private readonly PipeReader _input = connection.Input;
    private readonly PipeWriter _output = connection.Output;

    // True until the handshake ends: writes are held then, and every read sends them first.
    private bool _handshaking = true;

    // 1 while handshake bytes wait unsent in the socket writer; taken (set to 0) by whoever sends them.
    private int _held;

    /// <summary>Called after the handshake by a read that finds nothing to read while handshake bytes
    /// are held: sends them under the TLS layer's send gate (<see cref="TlsConnection.SendHeldAsync"/>).</summary>
    internal Func<ValueTask>? SendHeldBeforeWait { get; set; }

    /// <summary>Whether handshake bytes are still waiting to be sent.</summary>
    internal bool HasHeld => Volatile.Read(ref _held) != 0;

    /// <summary>The handshake is over: from here writes are sent at once again, the held ones with them.</summary>
    internal void EndHandshake() => _handshaking = false;

    /// <summary>Sends the held handshake bytes, if any are left. The caller keeps every other writer
    /// out (during the handshake there is none; after it, the TLS layer's send gate).</summary>
    internal async ValueTask SendHeldAsync()
    {
        if (Interlocked.Exchange(ref _held, 0) != 0)
        {
            await _output.FlushAsync().ConfigureAwait(false);
        }
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ReadResult result;
        if (Volatile.Read(ref _held) == 0)
        {
            result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (_handshaking)
        {
            // The peer answers what we hold: send it before waiting for the answer.
            await SendHeldAsync().ConfigureAwait(false);
            result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (!_input.TryRead(out result))
        {
            // Nothing to read: this read will wait, so the held bytes (the ticket) go out now.
            if (SendHeldBeforeWait is { } send)
            {
                await send().ConfigureAwait(false);
            }
            else
            {
                await SendHeldAsync().ConfigureAwait(false);
            }
            result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
        }

        var data = result.Buffer;
        if (buffer.IsEmpty || data.IsEmpty)
        {
            // A zero-byte read: bytes are there (or the stream ended); leave them for the next read.
            _input.AdvanceTo(data.Start, data.Start);
            return 0;
        }

        var count = (int)Math.Min(buffer.Length, data.Length);
        var taken = data.Slice(0, count);
        taken.CopyTo(buffer.Span);
        _input.AdvanceTo(taken.End);
        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_handshaking)
        {
            _output.Write(buffer.Span);
            Volatile.Write(ref _held, 1);
            return;
        }

        // The socket writer sends what it holds first: any held handshake bytes travel with these.
        Volatile.Write(ref _held, 0);
        await _output.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Every write after the handshake is sent when it is made (SocketWriter.WriteAsync flushes): only
    // held handshake bytes can be left to send. The TLS layer's callers hold its send gate here.
    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _handshaking || Volatile.Read(ref _held) == 0 ? Task.CompletedTask : SendHeldAsync().AsTask();

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("TLS connections read asynchronously only");

    public override void Write(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("TLS connections write asynchronously only");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
