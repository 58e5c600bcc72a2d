using System.IO.Pipelines;
using System.Net.Security;
using Sockeye.Transport;

namespace Sockeye.Security.Internal;

/// <summary>
/// A TLS connection's <see cref="Connection.Output"/>: the handler's writes go to a pipe writer over the
/// <see cref="SslStream"/>, and each flush holds the TLS layer's send gate, which the connection's send
/// queue (<see cref="Outbox"/>) shares. So messages sent with <c>TrySend</c> are encrypted for this
/// connection and written between the handler's flushes, never inside one: the plaintext stays shared
/// by every recipient, the encryption is per connection.
/// </summary>
internal sealed class TlsOutput(PipeWriter inner, SslStream ssl, Func<Outbox?> outbox) : PipeWriter, IOutboxSink
{
    private int _sending;
    private bool _closed;

    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;

    public bool IsClosed => Volatile.Read(ref _closed);

    public override void Advance(int bytes) => inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (!TryEnterGate())
        {
            await outbox()!.WaitForGateAsync().ConfigureAwait(false);
        }

        try
        {
            return await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            FreeGate();
            outbox()?.AfterFlush();
        }
    }

    public bool TryEnterGate() => Interlocked.CompareExchange(ref _sending, 1, 0) == 0;

    public void FreeGate() => Interlocked.Exchange(ref _sending, 0);

    /// <summary>Encrypts and sends the queued messages (one TLS write each, then one flush).</summary>
    public async ValueTask SendChainAsync(BufferSegment head, BufferSegment tail)
    {
        for (var segment = head; segment is not null; segment = segment.NextSegment)
        {
            await ssl.WriteAsync(segment.Memory).ConfigureAwait(false);
            if (ReferenceEquals(segment, tail))
            {
                break;
            }
        }

        await ssl.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>The connection is closing gracefully: queued messages may still go out, nothing after.</summary>
    public void MarkClosed() => Volatile.Write(ref _closed, true);
}
