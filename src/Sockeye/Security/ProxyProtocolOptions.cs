using System.Net;

namespace Sockeye.Security;

/// <summary>
/// PROXY protocol v1 and v2 (HAProxy's specification) on a listener behind a load balancer
/// (<see cref="TcpServerOptions.ProxyProtocol"/>): every connection must start with a PROXY header,
/// which is read before the handler starts; the handler then sees the original client in
/// <see cref="Connection.RemoteEndPoint"/> and the header in
/// <see cref="ConnectionSecurityExtensions.GetProxyProtocolInfo(Connection)"/>.
/// </summary>
/// <remarks>Only connections from <see cref="TrustedProxies"/> may send a header; anyone else is reset
/// at accept, since a header from an untrusted peer would let it claim any address. A malformed,
/// oversize or missing header closes the connection; each case is counted
/// (<see cref="RefusalReason"/>). Both versions are accepted on the same listener.</remarks>
public sealed class ProxyProtocolOptions
{
    /// <summary>The address ranges of the load balancers allowed to connect and send a header.</summary>
    /// <remarks>Default: empty, which refuses every connection: list your proxies (for example
    /// <c>10.0.0.0/8</c>, or <c>127.0.0.0/8</c> for a proxy on the same machine).</remarks>
    public IList<IPNetwork> TrustedProxies { get; private set; } = [];

    /// <summary>How long a trusted proxy has to send the whole header after connecting.</summary>
    /// <remarks>Default: 5 seconds. Proxies send the header at once, with their first packet, so this
    /// can be short; it is a read deadline, checked at <see cref="TcpServerOptions.TimeoutResolution"/>.</remarks>
    public TimeSpan HeaderTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest v2 header accepted (16 fixed bytes plus addresses and TLVs); a longer one
    /// closes the connection.</summary>
    /// <remarks>Default: 4096 bytes. HAProxy's headers with a few TLVs take under 300; the format allows
    /// up to 65,551, which a server need not buffer. A v1 header is at most 107 bytes by definition.</remarks>
    public int MaxHeaderLength { get; set; } = 4096;

    /// <summary>A copy, list included, for a server's snapshot of its options.</summary>
    internal ProxyProtocolOptions Snapshot()
    {
        var copy = (ProxyProtocolOptions)MemberwiseClone();
        copy.TrustedProxies = [.. TrustedProxies];
        return copy;
    }

    internal void Validate()
    {
        if (HeaderTimeout <= TimeSpan.Zero || HeaderTimeout > Timing.DurationText.Maximum)
        {
            throw new ArgumentException($"ProxyProtocol.HeaderTimeout must be positive and at most {Timing.DurationText.Format(Timing.DurationText.Maximum)}, got {HeaderTimeout}", nameof(TcpServerOptions.ProxyProtocol));
        }

        if (MaxHeaderLength < 232)
        {
            // 16 fixed bytes + 216 for a pair of UNIX socket addresses: the largest header without TLVs.
            throw new ArgumentException($"ProxyProtocol.MaxHeaderLength must be at least 232, got {MaxHeaderLength}", nameof(TcpServerOptions.ProxyProtocol));
        }
    }
}
