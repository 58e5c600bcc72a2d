using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using Sockeye.Transport;

namespace Sockeye.Security.Internal;

/// <summary>
/// <see cref="Connection.Input"/> of a TLS connection: decrypted bytes from a
/// <see cref="PipeReader"/> over the <see cref="System.Net.Security.SslStream"/>, with the handler's
/// reads timed as on plain TCP.
/// </summary>
/// <remarks>
/// <para>The read timeout, read deadline and minimum receive rate judge the handler's read, from its
/// <c>ReadAsync</c> until it consumes bytes. Under TLS that read is timed here, not in the
/// <see cref="SocketReader"/> below: the TLS layer consumes every encrypted byte as soon as it
/// arrives, so timing the socket reads would let a peer that trickles a byte a second restart the
/// clock with each byte.</para>
/// <para>A TLS failure after the handshake (a record that does not decrypt, a bad alert) surfaces
/// as an <see cref="InvalidDataException"/>: the peer broke the protocol, which the server counts as
/// a protocol error, not a handler fault.</para>
/// </remarks>
internal sealed class TlsInputReader(PipeReader decrypted, SocketConnection transport) : PipeReader
{
    private bool _inRead;
    private bool _trackConsumption;
    private SequencePosition _readStart;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (!_inRead)
        {
            _inRead = true;
            if (transport.BeginRead(out _trackConsumption) is { } expired)
            {
                throw expired;
            }
        }

        ReadResult result;
        try
        {
            result = await decrypted.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsTlsFailure(ex))
        {
            throw new InvalidDataException($"connection {transport.Id}: TLS failed after the handshake: {ex.Message}", ex);
        }

        _readStart = result.Buffer.Start;
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        if (!decrypted.TryRead(out result))
        {
            return false;
        }

        if (!_inRead)
        {
            _inRead = true;
            if (transport.BeginRead(out _trackConsumption) is { } expired)
            {
                decrypted.AdvanceTo(result.Buffer.Start);
                throw expired;
            }
        }

        _readStart = result.Buffer.Start;
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        var readEnds = _inRead && (!_trackConsumption || !consumed.Equals(_readStart));
        decrypted.AdvanceTo(consumed, examined);
        if (readEnds)
        {
            _inRead = false;
            transport.EndRead();
        }
    }

    public override void CancelPendingRead() => decrypted.CancelPendingRead();

    public override void Complete(Exception? exception = null) => decrypted.Complete(exception);

    private static bool IsTlsFailure(Exception ex) =>
        ex is AuthenticationException || (ex is IOException && ex is not ConnectionAbortedException && ex.InnerException is not ConnectionAbortedException);
}
