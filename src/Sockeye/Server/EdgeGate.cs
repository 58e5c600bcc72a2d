using System.Net;
using Microsoft.Extensions.Logging;
using Sockeye.Diagnostics;
using Sockeye.Security;
using Sockeye.Security.Internal;
using Sockeye.Transport;

namespace Sockeye.Server;

/// <summary>
/// The checks at a TCP server's edge, before its handler sees a connection: at accept, the server-wide
/// accept rate and the address checks (source lists, per-address cap, per-address rate; on a PROXY
/// listener only that the peer is a trusted proxy); then, on the connection's own task, the PROXY
/// header and the TLS handshake. A refused connection is reset and counted by
/// <see cref="RefusalReason"/>. A server with no edge check configured has no gate at all, so its
/// accept path and connection tasks skip this class entirely (one predictable null check each, no
/// allocation).
/// </summary>
internal sealed class EdgeGate : IDisposable
{
    private readonly TcpServerOptions _options;
    private readonly EnumCounters<RefusalReason> _refusals;
    private readonly PinnedBlockMemoryPool _pool;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    // The address checks; null when none is configured.
    private readonly SourceAdmission? _admission;

    // The TLS certificates; null on a plain TCP listener.
    private readonly CertificateStore? _certificates;

    // TLS handshakes under way, held to Tls.MaxPendingHandshakes: a stalled handshake pins ~65 KB.
    private int _pendingHandshakes;

    // Gives freed OpenSSL state back to the OS after aborted handshakes; null on a plain TCP listener.
    private readonly NativeMemoryTrim? _nativeTrim;

    /// <summary>The gate for <paramref name="options"/>, or <see langword="null"/> when it configures no edge check.</summary>
    public static EdgeGate? For(TcpServerOptions options, EnumCounters<RefusalReason> refusals, PinnedBlockMemoryPool pool, ILogger logger) =>
        options.HasEdgeChecks ? new EdgeGate(options, refusals, pool, logger) : null;

    private EdgeGate(TcpServerOptions options, EnumCounters<RefusalReason> refusals, PinnedBlockMemoryPool pool, ILogger logger)
    {
        _options = options;
        _refusals = refusals;
        _pool = pool;
        _time = options.TimeProvider;
        _logger = logger;
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

    /// <summary>The address checks, for tests.</summary>
    public SourceAdmission? Admission => _admission;

    /// <summary>TLS handshakes under way now (see <see cref="TcpServer.PendingTlsHandshakes"/>).</summary>
    public int PendingTlsHandshakes => Volatile.Read(ref _pendingHandshakes);

    /// <summary>The native memory trim, for tests.</summary>
    public NativeMemoryTrim? NativeTrim => _nativeTrim;

    /// <summary>Reads the TLS certificate files again (see <see cref="TcpServer.ReloadTlsCertificates"/>).</summary>
    public bool ReloadTlsCertificates() => _certificates?.Reload() ?? false;

    /// <summary>Releases the rate buckets and the certificates.</summary>
    public void Dispose()
    {
        _admission?.Dispose();
        _certificates?.Dispose();
        _nativeTrim?.Dispose();
    }

    /// <summary>
    /// The accept path's check on a new connection, before it is registered or its task starts: the
    /// server-wide rate, then the address checks (on a PROXY listener, only that the peer is a trusted
    /// proxy; the client's own address is checked once the header names it). A refused connection is
    /// reset at once and the refusal counted; the caller releases its slot.
    /// </summary>
    /// <returns><see langword="true"/> when the connection may go on.</returns>
    public bool AdmitAtAccept(SocketConnection connection)
    {
        RefusalReason? refused = null;
        if (_admission is not null && !_admission.TryTakeOverallRate())
        {
            refused = RefusalReason.AcceptRate;
        }
        else if ((_options.ProxyProtocol is not null || _admission is { ChecksAddress: true })
            && connection.RemoteEndPoint is IPEndPoint peer) // asked only when checked: made on first ask
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
            if (tls.MaxPendingHandshakes > 0 && pending > tls.MaxPendingHandshakes)
            {
                // Given back before the refusal is counted: whoever sees the count sees the gauge at the cap.
                Interlocked.Decrement(ref _pendingHandshakes);
                RefuseAtEdge(connection, RefusalReason.TlsHandshakesPending, $"{pending - 1} TLS handshakes pending, MaxPendingHandshakes {tls.MaxPendingHandshakes}");
                return null;
            }

            try
            {
                return Edge(connection).Tls = await TlsConnection.AcceptAsync(connection, _certificates!, tls, _pool, _time, _options.MaxReadBufferSize).ConfigureAwait(false);
            }
            catch (TlsHandshakeException ex)
            {
                // The trim is requested before the refusal is counted, so whoever sees the count
                // (a test, a scrape) also sees the trim armed.
                _nativeTrim!.HandshakeAborted();
                RefuseAtEdge(connection, ex.Reason, ex.InnerException?.Message);
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
    public async Task RunAsync(SocketConnection connection, Func<Connection, Task> handler)
    {
        var handed = await PrepareConnectionAsync(connection).ConfigureAwait(false);
        if (handed is not null)
        {
            var running = handler(handed) ?? Task.CompletedTask;

            // The handler's first step is over (it awaits something, or it ended): a ticket it did not
            // carry out with a write goes now (ConnectionStream says why it was held).
            if (handed is TlsConnection tls)
            {
                await tls.SendHeldAsync().ConfigureAwait(false);
            }

            await running.ConfigureAwait(false);
        }
    }

    /// <summary>Closes the connection after its handler: through the TLS layer when there is one, so
    /// the handler's last bytes are encrypted and a close_notify precedes the FIN.</summary>
    public static ValueTask DisposeConnectionAsync(SocketConnection connection) =>
        EdgeState.Of(connection)?.Tls is { } tls ? tls.DisposeAsync() : connection.DisposeAsync();

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
        catch (ConnectionClosedException ex)
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

    /// <summary>Gives back what the address checks took; called once, when the connection ends.</summary>
    public void ReleaseAdmission(SocketConnection connection)
    {
        if (EdgeState.Of(connection) is { CountedAddress: { } address } edge)
        {
            edge.CountedAddress = null;
            _admission!.Release(address);
        }
    }

    private static EdgeState Edge(SocketConnection connection) => EdgeState.For(connection);

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
