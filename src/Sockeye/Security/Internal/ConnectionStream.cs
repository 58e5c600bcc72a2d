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
/// <remarks>A zero-byte read waits until bytes arrive without consuming them, which is how
/// <see cref="System.Net.Security.SslStream"/>'s own zero-byte reads reach the socket: an idle TLS
/// connection holds no buffer on either layer.</remarks>
internal sealed class ConnectionStream(SocketConnection connection) : Stream
{
    private readonly PipeReader _input = connection.Input;
    private readonly PipeWriter _output = connection.Output;

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
        var result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
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
        await _output.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Every write is sent when it is made (SocketWriter.WriteAsync flushes): nothing is left to flush.
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

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
