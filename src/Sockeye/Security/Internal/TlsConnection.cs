using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Sockeye.Transport;

namespace Sockeye.Security.Internal;

/// <summary>
/// A <see cref="Connection"/> over TLS: an <see cref="SslStream"/> on top of a
/// <see cref="SocketConnection"/>, with the same pipes, tokens, timeouts and deadlines, so handlers and
/// codecs do not know the difference.
/// </summary>
/// <remarks>
/// <code>
/// socket ─▶ SocketReader ─▶ ConnectionStream ─▶ SslStream ─▶ TlsInputReader (zero-byte reads) ─▶ handler
/// handler ─▶ PipeWriter ─▶ SslStream ─▶ ConnectionStream ─▶ SocketWriter ─▶ socket
/// </code>
/// The socket connection keeps everything that is not about encryption: the id, the endpoints (after a
/// PROXY header), the deadline slot and the abort. An idle TLS connection waits with a zero-byte read
/// through every layer, so neither the pipe, the <see cref="SslStream"/> nor the socket reader holds a
/// buffer.
/// </remarks>
internal sealed class TlsConnection : Connection
{
    // Traffic (plaintext, both ways) after which an idle read checks the BIO buffers: the largest a
    // buffer can have grown to below it is OpenSSL's 4/3 of one such record plus its overhead.
    private const int TrimCheckBytes = 1024;

    private readonly SslStream _ssl;
    private readonly ConnectionStream _stream;
    private readonly TlsInputReader _input;
    private readonly TlsOutput _output;
    private Outbox? _outbox;
    private bool _closed;
    private Task? _disposeTask;

    private TlsConnection(SocketConnection transport, SslStream ssl, ConnectionStream stream, PinnedBlockMemoryPool pool, long? maxReadBufferSize, TlsConnectionInfo info, bool releasesIdleBuffers)
    {
        Transport = transport;
        ReleasesIdleBuffers = releasesIdleBuffers;
        _ssl = ssl;
        _stream = stream;
        Info = info;
        _output = new TlsOutput(
            PipeWriter.Create(ssl, new StreamPipeWriterOptions(pool, minimumBufferSize: PinnedBlockMemoryPool.BlockSize, leaveOpen: true)),
            ssl,
            () => Volatile.Read(ref _outbox));
        _input = new TlsInputReader(ssl, transport, pool, maxReadBufferSize, releasesIdleBuffers ? TrimIdleBuffers : null);

        // The transport's close makes this connection leave its groups (it is the one handlers add).
        transport.Extras.Upper = this;
        stream.SendHeldBeforeWait = SendHeldAsync;
    }

    /// <summary>The connection underneath, which carries the bytes, the timers and the abort.</summary>
    public SocketConnection Transport { get; }

    internal override Connection Root => Transport;

    /// <summary>Whether OpenSSL frees this connection's record buffers between records
    /// (<see cref="TlsOptions.ReleaseIdleBuffers"/> on, and the runtime allows it).</summary>
    public bool ReleasesIdleBuffers { get; }

    /// <summary>The TLS stream, for tests.</summary>
    internal SslStream Ssl => _ssl;

    /// <summary>What the handshake settled.</summary>
    public TlsConnectionInfo Info { get; }

    public override long Id => Transport.Id;

    public override EndPoint? LocalEndPoint => Transport.LocalEndPoint;

    public override EndPoint? RemoteEndPoint => Transport.RemoteEndPoint;

    public override PipeReader Input => _input;

    public override PipeWriter Output => _output;

    public override CancellationToken ConnectionClosed => Transport.ConnectionClosed;

    public override CancellationToken ShutdownRequested => Transport.ShutdownRequested;

    public override TimeSpan IdleTimeout
    {
        get => Transport.IdleTimeout;
        set => Transport.IdleTimeout = value;
    }

    public override TimeSpan ReadTimeout
    {
        get => Transport.ReadTimeout;
        set => Transport.ReadTimeout = value;
    }

    public override TimeSpan WriteTimeout
    {
        get => Transport.WriteTimeout;
        set => Transport.WriteTimeout = value;
    }

    public override void SetReadDeadline(DateTimeOffset deadline) => Transport.SetReadDeadline(deadline);

    public override void SetWriteDeadline(DateTimeOffset deadline) => Transport.SetWriteDeadline(deadline);

    public override void ClearReadDeadline() => Transport.ClearReadDeadline();

    public override void ClearWriteDeadline() => Transport.ClearWriteDeadline();

    public override void Abort(string reason) => Transport.Abort(reason);

    public override Fanout.SendResult TrySend(Fanout.OutgoingMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Transport.IsAborted ? Fanout.SendResult.Closed : EnsureOutbox(null).Enqueue(message);
    }

    public override Fanout.SendQueueOptions SendQueue
    {
        get => Volatile.Read(ref _outbox)?.Options ?? Transport.SendQueue;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            value.Validate();
            EnsureOutbox(value).Options = value;
        }
    }

    public override long QueuedBytes => Volatile.Read(ref _outbox)?.PendingBytes ?? 0;

    internal override bool HasClosed => Transport.HasClosed;

    private Outbox EnsureOutbox(Fanout.SendQueueOptions? options)
    {
        if (Volatile.Read(ref _outbox) is { } outbox)
        {
            return outbox;
        }

        var created = new Outbox(Transport, _output, options ?? Transport.SendQueue);
        outbox = Interlocked.CompareExchange(ref _outbox, created, null) ?? created;
        if (Transport.IsAborted)
        {
            outbox.Close();
        }

        return outbox;
    }

    /// <summary>
    /// Runs the server side of the handshake on <paramref name="transport"/>, bounded by
    /// <see cref="TlsOptions.HandshakeTimeout"/> (a read and write deadline on the socket).
    /// </summary>
    /// <exception cref="TlsHandshakeException">The handshake failed; it carries the reason to count.</exception>
    public static async Task<TlsConnection> AcceptAsync(SocketConnection transport, CertificateStore certificates, TlsOptions options, PinnedBlockMemoryPool pool, TimeProvider time, long? maxReadBufferSize)
    {
        transport.SetDeadline(time.GetUtcNow() + options.HandshakeTimeout);
        var handshake = new Handshake(certificates, options);
        var stream = new ConnectionStream(transport);
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsServerAsync(static (_, hello, state, _) => ((Handshake)state!).Select(hello), handshake, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await SendAlertAsync(stream).ConfigureAwait(false);
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new TlsHandshakeException(handshake.Classify(ex), ex);
        }

        // The last flight (the TLS 1.3 ticket) stays held, to leave with the handler's first write.
        stream.EndHandshake();
        transport.ClearReadDeadline();
        transport.ClearWriteDeadline();

        // Before the first read or write: OpenSSL may then free the record buffers an idle connection holds.
        var releases = certificates.ReleaseIdleBuffers(ssl);

        // From here the handler's reads are timed on the decrypted side (see TlsInputReader).
        transport.Reader.TimesReads = false;
        return new TlsConnection(transport, ssl, stream, pool, maxReadBufferSize, new TlsConnectionInfo(ssl, handshake.ServerName), releases);
    }

    /// <summary>A failed handshake may have written an alert as its last words (held, as every
    /// handshake write): send it, so the client learns why, as it did when writes went out at once.</summary>
    private static async ValueTask SendAlertAsync(ConnectionStream stream)
    {
        try
        {
            await stream.SendHeldAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Best effort: nothing here may replace the handshake's own failure.
        catch (Exception)
#pragma warning restore CA1031
        {
            // The peer is gone or the deadline aborted the socket: the alert has no one to reach.
        }
    }

    /// <summary>
    /// Sends the handshake's last flight (TLS 1.3: the session ticket) if it is still held, because
    /// the handler is about to wait: its first read found nothing to read, or its first synchronous
    /// step is over (<see cref="Server.EdgeGate"/> calls this when the handler's task is first
    /// returned). Safe from any thread: it takes the send gate, and when a write holds the gate, that
    /// write carries the held bytes itself.
    /// </summary>
    internal ValueTask SendHeldAsync() => _stream.HasHeld ? SendHeldUnderGateAsync() : default;

    private async ValueTask SendHeldUnderGateAsync()
    {
        if (!_output.TryEnterGate())
        {
            return;
        }

        try
        {
            _output.EnterSsl();
            try
            {
                await _stream.SendHeldAsync().ConfigureAwait(false);
            }
            finally
            {
                _output.ExitSsl();
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            // The connection is failing: the handler's own read or write will say so.
        }
        finally
        {
            _output.FreeGate();
            Volatile.Read(ref _outbox)?.AfterFlush();
        }
    }

    /// <summary>
    /// Called by the reader when the handler waits for input and nothing is buffered: if more than a
    /// few small records went through since the last call, gives back the memory BIO buffers they grew
    /// (<see cref="OpenSslBioTrim"/>), so an idle connection returns to its small size.
    /// </summary>
    /// <param name="readSinceTrim">Decrypted bytes the reader took since its last call that checked.</param>
    /// <returns>Whether it checked (the reader then restarts its count).</returns>
    /// <remarks>The reader is not inside the SslStream here, so no <c>SSL_read</c> runs; the output's
    /// trim flag keeps <c>SSL_write</c> out. If a write is under way the check waits for the next idle
    /// read. Small messages (64 B echoes) skip it: below <see cref="TrimCheckBytes"/> of traffic no
    /// buffer can have outgrown <see cref="OpenSslBioTrim.KeepBytes"/> by much, and no native call is made.</remarks>
    private bool TrimIdleBuffers(long readSinceTrim)
    {
        if (readSinceTrim + _output.WrittenSinceTrim < TrimCheckBytes || !_output.TryEnterTrim())
        {
            return false;
        }

        try
        {
            OpenSslBioTrim.Shared.Trim(_ssl);
            _output.TakeWrittenSinceTrim();
            return true;
        }
        finally
        {
            _output.ExitTrim();
        }
    }

    /// <summary>Sends what the handler wrote, a TLS close_notify, then the FIN. Idempotent.</summary>
    public override async ValueTask CloseAsync()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        try
        {
            if (!Transport.IsAborted)
            {
                await _output.FlushAsync().ConfigureAwait(false);

                // Messages other tasks queued go out before close_notify: a graceful close loses none.
                if (Volatile.Read(ref _outbox) is { } outbox)
                {
                    if (!_output.TryEnterGate())
                    {
                        await outbox.WaitForGateAsync().ConfigureAwait(false);
                    }

                    try
                    {
                        await outbox.DrainBeforeCloseAsync().ConfigureAwait(false);
                    }
                    finally
                    {
                        _output.FreeGate();
                    }
                }

                _output.EnterSsl();
                try
                {
                    await _ssl.ShutdownAsync().ConfigureAwait(false);
                }
                finally
                {
                    _output.ExitSsl();
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            // The peer is gone or the connection was aborted: nothing left to say.
        }
        finally
        {
            _output.MarkClosed();
            Volatile.Read(ref _outbox)?.Close();
            await _output.CompleteAsync().ConfigureAwait(false);
        }

        await Transport.CloseAsync().ConfigureAwait(false);
    }

    /// <summary>Ends the connection after its handler returned: closes (unless aborted), then gives
    /// every buffer back, down to the socket's. Idempotent: later calls wait for the first.</summary>
#pragma warning disable CA2215 // The base only calls CloseAsync, which ReleaseAsync does first.
    protected override ValueTask DisposeAsyncCore()
#pragma warning restore CA2215
    {
        var task = Volatile.Read(ref _disposeTask);
        if (task is null)
        {
            var start = new Task<Task>(ReleaseAsync);
            var unwrapped = start.Unwrap();
            task = Interlocked.CompareExchange(ref _disposeTask, unwrapped, null);
            if (task is null)
            {
                start.RunSynchronously(TaskScheduler.Default);
                task = unwrapped;
            }
        }

        return new ValueTask(task);
    }

    private async Task ReleaseAsync()
    {
        try
        {
            await CloseAsync().ConfigureAwait(false);
        }
        finally
        {
            _input.Complete();
            ReleaseAttachments();
            await _ssl.DisposeAsync().ConfigureAwait(false);
            await Transport.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>One handshake's choices and what went wrong, for counting failures by reason.</summary>
    private sealed class Handshake(CertificateStore certificates, TlsOptions options)
    {
        private bool _unknownName;
        private bool _certificateRejected;

        public string? ServerName { get; private set; }

        public ValueTask<SslServerAuthenticationOptions> Select(SslClientHelloInfo hello)
        {
            ServerName = hello.ServerName;
            var validation = options.ClientCertificateMode == ClientCertificateMode.None ? null : new RemoteCertificateValidationCallback(Validate);
            var chosen = certificates.CreateOptions(hello.ServerName, validation);
            if (chosen is null)
            {
                _unknownName = true;
                throw new UnknownServerNameException(hello.ServerName);
            }

            return ValueTask.FromResult(chosen);
        }

        public RefusalReason Classify(Exception ex)
        {
            for (var e = ex; e is not null; e = e.InnerException)
            {
                if (e is ConnectionTimeoutException)
                {
                    return RefusalReason.TlsHandshakeTimeout;
                }
            }

            return _unknownName ? RefusalReason.TlsUnknownServerName
                : _certificateRejected ? RefusalReason.TlsClientCertificateRejected
                : RefusalReason.TlsHandshakeFailed;
        }

        private bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            bool accepted;
            if (certificate is null)
            {
                accepted = options.ClientCertificateMode == ClientCertificateMode.Allow;
            }
            else
            {
                var certificate2 = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                accepted = options.ClientCertificateValidation is { } validate
                    ? validate(certificate2, chain, errors)
                    : errors == SslPolicyErrors.None;
            }

            _certificateRejected = !accepted;
            return accepted;
        }
    }
}

/// <summary>A TLS handshake failed; <see cref="Reason"/> says how, for the counters.</summary>
internal sealed class TlsHandshakeException(RefusalReason reason, Exception inner)
    : IOException($"TLS handshake failed ({reason}): {inner.Message}", inner)
{
    public RefusalReason Reason { get; } = reason;
}
