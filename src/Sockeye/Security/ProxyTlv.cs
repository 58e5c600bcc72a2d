namespace Sockeye.Security;

/// <summary>One type-length-value field of a PROXY protocol v2 header.</summary>
/// <param name="Type">The type byte (see the constants, or 0xE0–0xEF for custom ones).</param>
/// <param name="Value">The value bytes, a copy owned by this object.</param>
public sealed record ProxyTlv(byte Type, ReadOnlyMemory<byte> Value)
{
    /// <summary><c>PP2_TYPE_ALPN</c>: the application protocol the client negotiated with the proxy.</summary>
    public const byte Alpn = 0x01;

    /// <summary><c>PP2_TYPE_AUTHORITY</c>: the host name the client asked for (SNI or Host).</summary>
    public const byte Authority = 0x02;

    /// <summary><c>PP2_TYPE_CRC32C</c>: the CRC-32C of the whole header; when present, it is checked and a header that fails it is refused as <see cref="RefusalReason.ProxyHeaderInvalid"/>.</summary>
    public const byte Crc32c = 0x03;

    /// <summary><c>PP2_TYPE_NOOP</c>: padding.</summary>
    public const byte Noop = 0x04;

    /// <summary><c>PP2_TYPE_UNIQUE_ID</c>: an opaque id of the connection, up to 128 bytes.</summary>
    public const byte UniqueId = 0x05;

    /// <summary><c>PP2_TYPE_SSL</c>: TLS facts from a proxy that terminated TLS (with sub-TLVs).</summary>
    public const byte Ssl = 0x20;

    /// <summary><c>PP2_TYPE_NETNS</c>: the network namespace name.</summary>
    public const byte NetNamespace = 0x30;
}
