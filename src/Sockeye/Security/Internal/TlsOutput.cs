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

    // 1 while a flush, a queued send, the close_notify or the final flush is inside the SslStream, 2 while
    // the reader trims the BIO buffers (TryEnterTrim): the two never overlap, because a trim frees a buffer
    // an SSL_write could be filling. A writer waits out a trim (a few native calls); a trim never waits.
    private int _inSsl;

    // Bytes given to the SslStream since the last trim (see TlsConnection.TrimIdleBuffers).
    private long _writtenSinceTrim;

    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;

    public bool IsClosed => Volatile.Read(ref _closed);

    public override void Advance(int bytes) => inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null)
    {
        EnterSsl();
        try
        {
            inner.Complete(exception);
        }
        finally
        {
            ExitSsl();
        }
    }

    public override async ValueTask CompleteAsync(Exception? exception = null)
    {
        EnterSsl();
        try
        {
            await inner.CompleteAsync(exception).ConfigureAwait(false);
        }
        finally
        {
            ExitSsl();
        }
    }

    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (!TryEnterGate())
        {
            await outbox()!.WaitForGateAsync().ConfigureAwait(false);
        }

        try
        {
            Interlocked.Add(ref _writtenSinceTrim, inner.UnflushedBytes);
            EnterSsl();
            try
            {
                return await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ExitSsl();
            }
        }
        finally
        {
            FreeGate();
            outbox()?.AfterFlush();
        }
    }

    /// <summary>Bytes written since the last <see cref="TakeWrittenSinceTrim"/>.</summary>
    public long WrittenSinceTrim => Volatile.Read(ref _writtenSinceTrim);

    /// <summary>Resets <see cref="WrittenSinceTrim"/> after a trim.</summary>
    public void TakeWrittenSinceTrim() => Interlocked.Exchange(ref _writtenSinceTrim, 0);

    /// <summary>Marks the start of a call that may run <c>SSL_write</c>; waits while a trim runs.</summary>
    public void EnterSsl()
    {
        var spin = default(SpinWait);
        while (Interlocked.CompareExchange(ref _inSsl, 1, 0) != 0)
        {
            spin.SpinOnce();
        }
    }

    /// <summary>Ends what <see cref="EnterSsl"/> began.</summary>
    public void ExitSsl() => Volatile.Write(ref _inSsl, 0);

    /// <summary>Takes the SSL object for a trim when no write is inside it; false means try later.</summary>
    public bool TryEnterTrim() => Interlocked.CompareExchange(ref _inSsl, 2, 0) == 0;

    /// <summary>Ends a trim that <see cref="TryEnterTrim"/> began.</summary>
    public void ExitTrim() => Volatile.Write(ref _inSsl, 0);

    public bool TryEnterGate() => Interlocked.CompareExchange(ref _sending, 1, 0) == 0;

    public void FreeGate() => Interlocked.Exchange(ref _sending, 0);

    /// <summary>Encrypts and sends the queued messages (one TLS write each, then one flush).</summary>
    public async ValueTask SendChainAsync(BufferSegment head, BufferSegment tail)
    {
        EnterSsl();
        try
        {
            for (var segment = head; segment is not null; segment = segment.NextSegment)
            {
                Interlocked.Add(ref _writtenSinceTrim, segment.Memory.Length);
                await ssl.WriteAsync(segment.Memory).ConfigureAwait(false);
                if (ReferenceEquals(segment, tail))
                {
                    break;
                }
            }

            await ssl.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            ExitSsl();
        }
    }

    /// <summary>The connection is closing gracefully: queued messages may still go out, nothing after.</summary>
    public void MarkClosed() => Volatile.Write(ref _closed, true);
}
