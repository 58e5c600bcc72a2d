using System.Net;
using Sockeye.Security;

namespace Sockeye;

public sealed partial class TcpServerOptions
{
    /// <summary>TLS on this listener; <see langword="null"/> serves plain TCP.</summary>
    /// <remarks>Default: <see langword="null"/>. See <see cref="TlsOptions"/>.</remarks>
    public TlsOptions? Tls { get; set; }

    /// <summary>PROXY protocol v1/v2 on this listener (behind a load balancer); <see langword="null"/>
    /// for none.</summary>
    /// <remarks>Default: <see langword="null"/>. When set, every connection must come from a
    /// trusted proxy and start with a header; see <see cref="ProxyProtocolOptions"/>. With
    /// <see cref="Tls"/> too, the header comes first, in clear, as HAProxy sends it.</remarks>
    public ProxyProtocolOptions? ProxyProtocol { get; set; }

    /// <summary>The most connections one client address may hold at once; 0 for no limit.</summary>
    /// <remarks>Default: 0 (no limit). A connection over the limit is reset at accept, without a
    /// handler, and counted as <see cref="RefusalReason.MaxConnectionsPerIp"/>; other addresses are
    /// not affected. With <see cref="ProxyProtocol"/> the original client's address counts (after the
    /// header), not the proxy's. Clients behind one NAT share an address: leave room for them.</remarks>
    public int MaxConnectionsPerIp { get; set; }

    /// <summary>How fast the server accepts new connections, from everyone together;
    /// <see langword="null"/> for no limit.</summary>
    /// <remarks>Default: <see langword="null"/>. A connection over the rate is reset at once and counted
    /// as <see cref="RefusalReason.AcceptRate"/>. It caps the CPU a connection flood (or a TLS handshake
    /// flood) can take, at the price of refusing honest clients during the flood too;
    /// <see cref="AcceptRatePerIp"/> singles out the flooding address instead.</remarks>
    public AcceptRateLimit? AcceptRate { get; set; }

    /// <summary>How fast one client address may open connections; <see langword="null"/> for no limit.</summary>
    /// <remarks>Default: <see langword="null"/>. Refusals are counted as
    /// <see cref="RefusalReason.AcceptRatePerIp"/> and never affect other addresses. The state per
    /// address is dropped once its bucket is full again, so memory follows the addresses seen recently.</remarks>
    public AcceptRateLimit? AcceptRatePerIp { get; set; }

    /// <summary>When not empty, only clients in these address ranges are served.</summary>
    /// <remarks>Default: empty (everyone). Checked at accept (after the header with
    /// <see cref="ProxyProtocol"/>); refusals are counted as <see cref="RefusalReason.SourceDenied"/>.</remarks>
    public IList<IPNetwork> AllowedSources { get; private set; } = [];

    /// <summary>Clients in these address ranges are refused, even when <see cref="AllowedSources"/>
    /// contains them.</summary>
    /// <remarks>Default: empty.</remarks>
    public IList<IPNetwork> DeniedSources { get; private set; } = [];

    /// <summary>Whether any edge check (TLS, PROXY protocol, per-address limits, rates, source lists) is on.</summary>
    internal bool HasEdgeChecks =>
        Tls is not null || ProxyProtocol is not null || MaxConnectionsPerIp > 0 || AcceptRate is not null
        || AcceptRatePerIp is not null || AllowedSources.Count > 0 || DeniedSources.Count > 0;

    private void ValidateSecurity()
    {
        Require(MaxConnectionsPerIp >= 0, nameof(MaxConnectionsPerIp), MaxConnectionsPerIp, "must not be negative (zero turns it off)");
        Require(AcceptRate is null || (AcceptRate.PerSecond > 0 && AcceptRate.Burst > 0), nameof(AcceptRate), AcceptRate, "must have a positive PerSecond and Burst");
        Require(AcceptRatePerIp is null || (AcceptRatePerIp.PerSecond > 0 && AcceptRatePerIp.Burst > 0), nameof(AcceptRatePerIp), AcceptRatePerIp, "must have a positive PerSecond and Burst");
        Tls?.Validate();
        ProxyProtocol?.Validate();
    }
}
