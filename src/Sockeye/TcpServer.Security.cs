using System.Net;
using Microsoft.Extensions.Logging;
using Sockeye.Diagnostics;
using Sockeye.Security;
using Sockeye.Security.Internal;
using Sockeye.Transport;

namespace Sockeye;

public sealed partial class TcpServer
{
    // Refusals and edge failures by reason; kept apart so metrics can publish them later.
    private readonly Diagnostics.EnumCounters<RefusalReason> _refusals = new();

    // Whether any edge check is configured: when not, the accept path and the connection task skip
    // this file entirely (one predictable branch each, no allocation).
    private bool _edgeChecks;

    // The address checks; null when none is configured.
    private SourceAdmission? _admission;

    // The TLS certificates; null on a plain TCP listener.
    private CertificateStore? _certificates;

    // TLS handshakes under way, held to Tls.MaxPendingHandshakes: a stalled handshake pins ~65 KB.
    private int _pendingHandshakes;

    // Gives freed OpenSSL state back to the OS after aborted handshakes; null on a plain TCP listener.
    private NativeMemoryTrim? _nativeTrim;

    /// <summary>How many connections the edge checks (source lists, per-address cap, accept rates,
    /// PROXY protocol, TLS handshake) turned away for <paramref name="reason"/> since the start.</summary>
    /// <param name="reason">The reason to count.</param>
    /// <returns>The count; safe to read from any thread.</returns>
    public long GetRefusalCount(RefusalReason reason) => _refusals.Get(reason);

    /// <summary>How many connections the edge checks turned away, for every reason together.</summary>
    public long RefusedConnections => _refusals.Total;

    /// <summary>Reads the TLS certificate files again; new connections get the new certificates, open
    /// ones keep theirs. On failure (a file missing or half written) the current certificates stay in
    /// use and the failure is logged.</summary>
    /// <returns><see langword="true"/> when the new certificates are in use; <see langword="false"/> on
    /// failure or when the server has no TLS.</returns>
    /// <remarks>Safe to call from any thread, for example from a SIGHUP handler.</remarks>
    public bool ReloadTlsCertificates() => _certificates?.Reload() ?? false;

    /// <summary>How many TLS handshakes are under way now: at most <see cref="TlsOptions.MaxPendingHandshakes"/>, or for an
    /// instant a few more while connections past the cap are being refused (they take a place, then give it back).</summary>
    public int PendingTlsHandshakes => Volatile.Read(ref _pendingHandshakes);

    /// <summary>The native memory trim, for tests.</summary>
    internal NativeMemoryTrim? NativeTrim => _nativeTrim;

    /// <summary>The address checks, for tests.</summary>
    internal SourceAdmission? Admission => _admission;

    private void InitializeSecurity(TcpServerOptions options)
    {
        _edgeChecks = options.HasEdgeChecks;
        if (options.MaxConnectionsPerIp > 0 || options.AcceptRate is not null || options.AcceptRatePerIp is not null
            || options.AllowedSources.Count > 0 || options.DeniedSources.Count > 0)
        {
            _admission = new SourceAdmission(options);
        }

        if (options.Tls is { } tls)
        {
            _certificates = new CertificateStore(tls, _logger);
            _nativeTrim = new NativeMemoryTrim(tls.NativeMemoryTrimInterval, _time, _logger);
        }
    }

    private void DisposeSecurity()
    {
        _admission?.Dispose();
        _certificates?.Dispose();
        _nativeTrim?.Dispose();
    }

    /// <summary>
    /// The accept path's check on a new connection, before it is registered or its task starts: the
    /// server-wide rate, then the address checks (on a PROXY listener, only that the peer is a trusted
    /// proxy; the client's own address is checked once the header names it). A refused connection is
    /// reset at once, its slot released, and the refusal counted.
    /// </summary>
    /// <returns><see langword="true"/> when the connection may go on.</returns>
    private bool AdmitAtAccept(SocketConnection connection)
    {
        RefusalReason? refused = null;
        if (_admission is not null && !_admission.TryTakeOverallRate())
        {
            refused = RefusalReason.AcceptRate;
        }
        else if (connection.RemoteEndPoint is IPEndPoint peer)
        {
            var address = SourceAdmission.Normalize(peer.Address);
            if (_options.ProxyProtocol is { } proxy)
            {
                if (!IsTrustedProxy(proxy, address))
                {
                    refused = RefusalReason.UntrustedProxy;
                }
            }
            else
            {
                refused = Admit(connection, address);
            }
        }

        if (refused is { } reason)
        {
            RefuseAtEdge(connection, reason, null);
            ReleaseSlot();
            return false;
        }

        return true;
    }

    /// <summary>
    /// Runs on the connection's task before the handler: reads the PROXY header and checks the client
    /// it names, then runs the TLS handshake. Each step is bounded by its own deadline.
    /// </summary>
    /// <returns>The connection to hand to the handler, or <see langword="null"/> when the connection
    /// was refused (it is aborted and the refusal counted).</returns>
    private async Task<Connection?> PrepareConnectionAsync(SocketConnection connection)
    {
        if (_options.ProxyProtocol is { } proxy)
        {
            var (refused, detail) = await ReadProxyHeaderAsync(connection, proxy).ConfigureAwait(false);
            if (refused is null && connection.RemoteEndPoint is IPEndPoint client)
            {
                refused = Admit(connection, SourceAdmission.Normalize(client.Address));
            }

            if (refused is { } reason)
            {
                RefuseAtEdge(connection, reason, detail);
                return null;
            }
        }

        if (_options.Tls is { } tls)
        {
            // The cap is taken before the handshake allocates anything, and given back when it ends.
            var pending = Interlocked.Increment(ref _pendingHandshakes);
            try
            {
                if (tls.MaxPendingHandshakes > 0 && pending > tls.MaxPendingHandshakes)
                {
                    RefuseAtEdge(connection, RefusalReason.TlsHandshakesPending, $"{pending - 1} TLS handshakes pending, MaxPendingHandshakes {tls.MaxPendingHandshakes}");
                    return null;
                }

                return Edge(connection).Tls = await TlsConnection.AcceptAsync(connection, _certificates!, tls, _pool, _time, _options.MaxReadBufferSize).ConfigureAwait(false);
            }
            catch (TlsHandshakeException ex)
            {
                RefuseAtEdge(connection, ex.Reason, ex.InnerException?.Message);
                _nativeTrim!.HandshakeAborted();
                return null;
            }
            finally
            {
                Interlocked.Decrement(ref _pendingHandshakes);
            }
        }

        return connection;
    }

    /// <summary>The connection's task behind edge checks: the PROXY header and the TLS handshake, then
    /// the handler with the connection they produced. A refused connection ends here, already aborted.</summary>
    private async Task RunBehindEdgeAsync(SocketConnection connection)
    {
        var handed = await PrepareConnectionAsync(connection).ConfigureAwait(false);
        if (handed is not null)
        {
            await (_handler!(handed) ?? Task.CompletedTask).ConfigureAwait(false);
        }
    }

    /// <summary>Closes the connection after its handler: through the TLS layer when there is one, so
    /// the handler's last bytes are encrypted and a close_notify precedes the FIN.</summary>
    private static ValueTask DisposeConnectionAsync(SocketConnection connection) =>
        connection.Edge?.Tls is { } tls ? tls.DisposeAsync() : connection.DisposeAsync();

    /// <summary>Reads and applies the PROXY header within <see cref="ProxyProtocolOptions.HeaderTimeout"/>.</summary>
    /// <returns>No reason on success, or why the connection must be refused and what was wrong.</returns>
    private async Task<(RefusalReason? Reason, string? Detail)> ReadProxyHeaderAsync(SocketConnection connection, ProxyProtocolOptions proxy)
    {
        connection.SetReadDeadline(_time.GetUtcNow() + proxy.HeaderTimeout);
        try
        {
            while (true)
            {
                var result = await connection.Input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                bool parsed;
                ProxyProtocolInfo? info;
                int length;
                try
                {
                    parsed = ProxyHeaderParser.TryParse(buffer, proxy.MaxHeaderLength, out info, out length);
                }
                catch (InvalidDataException ex)
                {
                    connection.Input.AdvanceTo(buffer.Start);
                    return (RefusalReason.ProxyHeaderInvalid, ex.Message);
                }

                if (parsed)
                {
                    connection.Input.AdvanceTo(buffer.GetPosition(length));
                    Edge(connection).ProxyProtocol = info;
                    if (info!.SourceEndPoint is { } source)
                    {
                        connection.SetRemoteEndPoint(source);
                    }

                    connection.ClearReadDeadline();
                    return (null, null);
                }

                connection.Input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return (RefusalReason.ProxyHeaderInvalid, $"the connection ended after {buffer.Length} bytes of a PROXY header");
                }
            }
        }
        catch (ConnectionTimeoutException ex)
        {
            return (RefusalReason.ProxyHeaderTimeout, ex.Message);
        }
        catch (ConnectionAbortedException ex)
        {
            return (RefusalReason.ProxyHeaderInvalid, ex.Message);
        }
    }

    /// <summary>The address checks for the client at <paramref name="address"/>; counts the connection
    /// for the per-address cap when they pass.</summary>
    private RefusalReason? Admit(SocketConnection connection, IPAddress address)
    {
        if (_admission is null || !_admission.ChecksAddress)
        {
            return null;
        }

        var refused = _admission.TryAdmit(address);
        if (refused is null && _admission.CountsConnections)
        {
            Edge(connection).CountedAddress = address;
        }

        return refused;
    }

    /// <summary>Gives back what <see cref="Admit"/> took; called once, when the connection ends.</summary>
    private void ReleaseAdmission(SocketConnection connection)
    {
        if (connection.Edge is { CountedAddress: { } address } edge)
        {
            edge.CountedAddress = null;
            _admission!.Release(address);
        }
    }

    private static EdgeState Edge(SocketConnection connection) => connection.Edge ??= new EdgeState();

    private static bool IsTrustedProxy(ProxyProtocolOptions proxy, IPAddress address)
    {
        foreach (var network in proxy.TrustedProxies)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Counts the refusal and resets the connection: no handler runs, nothing is sent.</summary>
    private void RefuseAtEdge(SocketConnection connection, RefusalReason reason, string? detail)
    {
        _refusals.Increment(reason);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            SockeyeLog.ConnectionRefusedAtEdge(_logger, connection.Id, connection.RemoteEndPoint, reason, detail ?? "");
        }

        connection.Abort($"refused: {reason}");
    }
}
