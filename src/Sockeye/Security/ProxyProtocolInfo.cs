using System.Net;
using System.Text;

namespace Sockeye.Security;

/// <summary>A PROXY protocol header as received from a trusted proxy: the original client and
/// destination, the version, and (v2) the TLVs the proxy added. Read it with
/// <see cref="ConnectionSecurityExtensions.GetProxyProtocolInfo(Connection)"/>.</summary>
public sealed class ProxyProtocolInfo
{
    internal ProxyProtocolInfo(int version, bool isLocal, IPEndPoint? source, IPEndPoint? destination, IReadOnlyList<ProxyTlv> tlvs)
    {
        Version = version;
        IsLocal = isLocal;
        SourceEndPoint = source;
        DestinationEndPoint = destination;
        Tlvs = tlvs;
    }

    /// <summary>1 for the text header, 2 for the binary one.</summary>
    public int Version { get; }

    /// <summary>Whether the proxy opened the connection for itself (v2 <c>LOCAL</c>, v1 <c>UNKNOWN</c>,
    /// typically a health check): there is no original client, and <see cref="Connection.RemoteEndPoint"/>
    /// stays the proxy's address.</summary>
    public bool IsLocal { get; }

    /// <summary>The original client, or <see langword="null"/> when <see cref="IsLocal"/> or the address
    /// family is not IP.</summary>
    public IPEndPoint? SourceEndPoint { get; }

    /// <summary>The address the client connected to on the proxy, or <see langword="null"/>.</summary>
    public IPEndPoint? DestinationEndPoint { get; }

    /// <summary>The v2 type-length-value fields, in the order received (empty for v1).</summary>
    public IReadOnlyList<ProxyTlv> Tlvs { get; }

    /// <summary>The first TLV of <paramref name="type"/>, or <see langword="null"/>.</summary>
    /// <param name="type">The TLV type, for example <see cref="ProxyTlv.Authority"/>.</param>
    public ProxyTlv? Find(byte type)
    {
        foreach (var tlv in Tlvs)
        {
            if (tlv.Type == type)
            {
                return tlv;
            }
        }

        return null;
    }

    /// <summary>The server name the client asked the proxy for (TLV <c>PP2_TYPE_AUTHORITY</c>), or <see langword="null"/>.</summary>
    public string? Authority => Find(ProxyTlv.Authority) is { } tlv ? Encoding.UTF8.GetString(tlv.Value.Span) : null;

    /// <summary>The application protocol the client negotiated with the proxy (TLV <c>PP2_TYPE_ALPN</c>), or <see langword="null"/>.</summary>
    public string? Alpn => Find(ProxyTlv.Alpn) is { } tlv ? Encoding.ASCII.GetString(tlv.Value.Span) : null;

    /// <summary>The proxy's unique id for this connection (TLV <c>PP2_TYPE_UNIQUE_ID</c>), or <see langword="null"/>.</summary>
    public ReadOnlyMemory<byte>? UniqueId => Find(ProxyTlv.UniqueId)?.Value;
}
