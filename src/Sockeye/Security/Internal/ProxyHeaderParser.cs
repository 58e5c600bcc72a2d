using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Text;

namespace Sockeye.Security.Internal;

/// <summary>
/// Parses a PROXY protocol header (HAProxy's "The PROXY protocol", versions 1 and 2) from the start
/// of a connection's bytes.
/// </summary>
/// <remarks>
/// <code>
/// v1 (text, at most 107 bytes):  "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n"
///
/// v2 (binary):
/// ┌──────────────── 12 ───────────────┬── 1 ──┬── 1 ──┬── 2 ──┬──── len ───────────────────┐
/// │ \r\n\r\n\0\r\nQUIT\n (signature)  │ ver|cmd│fam|prt│  len  │ addresses │ TLVs ...       │
/// └───────────────────────────────────┴───────┴───────┴───────┴───────────┴────────────────┘
///   ver = 2; cmd = 0 LOCAL, 1 PROXY; fam = 1 IPv4 (12 bytes), 2 IPv6 (36), 3 UNIX (216), 0 none
///   TLV = type (1) │ length (2, big-endian) │ value
/// </code>
/// A v2 header with a <c>PP2_TYPE_CRC32C</c> TLV is checked as the specification asks (section
/// 2.2.5): the TLV's 4-byte big-endian value must equal the CRC-32C of the whole header, signature to
/// last TLV, computed with that value taken as zero. A mismatch, a value that is not 4 bytes, or a
/// second CRC32C TLV makes the header malformed.
/// "Need more bytes" is a normal outcome (<see langword="false"/>); anything that cannot become a
/// valid header throws an <see cref="InvalidDataException"/> that says what was wrong, as early as
/// the first wrong byte, so garbage is refused without waiting for the timeout.
/// </remarks>
internal static class ProxyHeaderParser
{
    /// <summary>The longest v1 header, "\r\n" included (the specification's limit).</summary>
    public const int MaxV1Length = 107;

    private static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    /// <summary>Parses a header at the start of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">The bytes received so far.</param>
    /// <param name="maxV2Length">The longest v2 header accepted.</param>
    /// <param name="info">The header, when complete.</param>
    /// <param name="length">The header's length in bytes, when complete.</param>
    /// <returns><see langword="true"/> when a whole header was parsed; <see langword="false"/> when more
    /// bytes are needed.</returns>
    /// <exception cref="InvalidDataException">The bytes are not a valid PROXY header.</exception>
    public static bool TryParse(ReadOnlySequence<byte> buffer, int maxV2Length, out ProxyProtocolInfo? info, out int length)
    {
        info = null;
        length = 0;
        Span<byte> start = stackalloc byte[16];
        var have = (int)Math.Min(buffer.Length, start.Length);
        buffer.Slice(0, have).CopyTo(start);
        start = start[..have];
        if (have == 0)
        {
            return false;
        }

        if (start[0] == V2Signature[0])
        {
            return TryParseV2(buffer, start, maxV2Length, out info, out length);
        }

        if (start[0] == V1Prefix[0])
        {
            return TryParseV1(buffer, start, out info, out length);
        }

        throw new InvalidDataException($"not a PROXY protocol header: the connection starts with byte 0x{start[0]:X2}");
    }

    private static bool TryParseV2(ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> start, int maxLength, out ProxyProtocolInfo? info, out int length)
    {
        info = null;
        length = 0;
        var signature = Math.Min(start.Length, V2Signature.Length);
        if (!start[..signature].SequenceEqual(V2Signature[..signature]))
        {
            throw new InvalidDataException("not a PROXY protocol header: the v2 signature is wrong");
        }

        if (start.Length < 16)
        {
            return false;
        }

        var version = start[12] >> 4;
        var command = start[12] & 0x0F;
        if (version != 2)
        {
            throw new InvalidDataException($"PROXY v2 header has version {version}, expected 2");
        }

        if (command > 1)
        {
            throw new InvalidDataException($"PROXY v2 header has command {command}, expected 0 (LOCAL) or 1 (PROXY)");
        }

        var family = start[13] >> 4;
        var declared = BinaryPrimitives.ReadUInt16BigEndian(start[14..16]);
        var total = 16 + declared;
        if (total > maxLength)
        {
            throw new InvalidDataException($"PROXY v2 header of {total} bytes exceeds MaxHeaderLength {maxLength}");
        }

        if (buffer.Length < total)
        {
            return false;
        }

        var header = buffer.Slice(0, total).ToArray();
        var addressLength = family switch
        {
            0 => 0,
            1 => 12,
            2 => 36,
            3 => 216,
            _ => throw new InvalidDataException($"PROXY v2 header has address family {family}, expected 0 to 3"),
        };
        // Spec 2.2: the protocol byte is one of 0x00 (UNSPEC), 0x11/0x21/0x31 (STREAM over INET,
        // INET6, UNIX) or 0x12/0x22/0x32 (DGRAM); any other value must be rejected. A TCP listener takes
        // only STREAM or UNSPEC: a DGRAM header describes a connection this socket cannot be. Under
        // LOCAL (health checks) the block is ignored, as the spec says.
        var protocol = start[13];
        if (command == 1 && protocol is not (0x00 or 0x11 or 0x21 or 0x31))
        {
            throw new InvalidDataException(protocol is 0x12 or 0x22 or 0x32
                ? $"PROXY v2 header has protocol byte 0x{protocol:X2} (DGRAM) on a stream listener, expected 0x00, 0x11, 0x21 or 0x31"
                : $"PROXY v2 header has protocol byte 0x{protocol:X2}, expected 0x00, 0x11, 0x21 or 0x31");
        }

        if (declared < addressLength)
        {
            throw new InvalidDataException($"PROXY v2 header declares {declared} bytes, too few for its {addressLength} address bytes");
        }

        IPEndPoint? source = null;
        IPEndPoint? destination = null;
        var addresses = header.AsSpan(16, addressLength);
        if (command == 1 && family is 1 or 2)
        {
            var size = family == 1 ? 4 : 16;
            source = new IPEndPoint(new IPAddress(addresses[..size]), BinaryPrimitives.ReadUInt16BigEndian(addresses[(2 * size)..]));
            destination = new IPEndPoint(new IPAddress(addresses[size..(2 * size)]), BinaryPrimitives.ReadUInt16BigEndian(addresses[((2 * size) + 2)..]));
        }

        var tlvs = ParseTlvs(header, 16 + addressLength, out var checksumAt);
        if (checksumAt >= 0)
        {
            VerifyChecksum(header, checksumAt);
        }

        info = new ProxyProtocolInfo(2, isLocal: command == 0, source, destination, tlvs);
        length = total;
        return true;
    }

    /// <summary>Reads the TLVs from <paramref name="start"/> to the end of <paramref name="header"/>.</summary>
    /// <param name="header">The whole header.</param>
    /// <param name="start">Where the first TLV starts (after the addresses).</param>
    /// <param name="checksumAt">Where the value of the CRC32C TLV starts in <paramref name="header"/>, or -1 when there is none.</param>
    private static List<ProxyTlv> ParseTlvs(byte[] header, int start, out int checksumAt)
    {
        checksumAt = -1;
        var tlvs = new List<ProxyTlv>();
        var bytes = header.AsMemory(start);
        while (!bytes.IsEmpty)
        {
            if (bytes.Length < 3)
            {
                throw new InvalidDataException($"PROXY v2 header ends inside a TLV: {bytes.Length} bytes left, a TLV needs at least 3");
            }

            var type = bytes.Span[0];
            var valueLength = BinaryPrimitives.ReadUInt16BigEndian(bytes.Span[1..3]);
            if (bytes.Length - 3 < valueLength)
            {
                throw new InvalidDataException($"PROXY v2 TLV 0x{type:X2} declares {valueLength} bytes but only {bytes.Length - 3} remain in the header");
            }

            if (type == ProxyTlv.Crc32c)
            {
                if (valueLength != sizeof(uint))
                {
                    throw new InvalidDataException($"PROXY v2 CRC32C TLV has {valueLength} bytes, expected {sizeof(uint)}");
                }

                if (checksumAt >= 0)
                {
                    throw new InvalidDataException("PROXY v2 header has more than one CRC32C TLV");
                }

                checksumAt = header.Length - bytes.Length + 3;
            }

            tlvs.Add(new ProxyTlv(type, bytes.Slice(3, valueLength)));
            bytes = bytes[(3 + valueLength)..];
        }

        return tlvs;
    }

    /// <summary>Checks the CRC32C TLV whose value starts at <paramref name="at"/>: the checksum of the
    /// header with those 4 bytes read as zero (the header itself is left as received).</summary>
    private static void VerifyChecksum(byte[] header, int at)
    {
        var sent = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(at, sizeof(uint)));
        var crc = Crc32C.Append(Crc32C.Initial, header.AsSpan(0, at));
        crc = Crc32C.Append(crc, [0, 0, 0, 0]);
        var computed = Crc32C.Finish(Crc32C.Append(crc, header.AsSpan(at + sizeof(uint))));
        if (computed != sent)
        {
            throw new InvalidDataException($"PROXY v2 header fails its CRC32C check: the TLV says 0x{sent:X8}, the {header.Length} header bytes give 0x{computed:X8}");
        }
    }

    private static bool TryParseV1(ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> start, out ProxyProtocolInfo? info, out int length)
    {
        info = null;
        length = 0;
        var prefix = Math.Min(start.Length, V1Prefix.Length);
        if (!start[..prefix].SequenceEqual(V1Prefix[..prefix]))
        {
            throw new InvalidDataException("not a PROXY protocol header: a v1 header starts with \"PROXY \"");
        }

        Span<byte> line = stackalloc byte[MaxV1Length];
        var have = (int)Math.Min(buffer.Length, MaxV1Length);
        buffer.Slice(0, have).CopyTo(line);
        line = line[..have];
        var end = line.IndexOf("\r\n"u8);
        if (end < 0)
        {
            if (have == MaxV1Length)
            {
                throw new InvalidDataException($"PROXY v1 header has no CRLF within {MaxV1Length} bytes");
            }

            if (line.IndexOf((byte)'\n') >= 0)
            {
                throw new InvalidDataException("PROXY v1 header ends with a bare LF, expected CRLF");
            }

            return false;
        }

        foreach (var b in line[..end])
        {
            if (b is < 0x20 or > 0x7E)
            {
                throw new InvalidDataException($"PROXY v1 header has the non-printable byte 0x{b:X2}");
            }
        }

        var text = Encoding.ASCII.GetString(line[..end]);
        var fields = text.Split(' ');
        if (fields.Length >= 2 && fields[1] == "UNKNOWN")
        {
            info = new ProxyProtocolInfo(1, isLocal: true, null, null, []);
            length = end + 2;
            return true;
        }

        if (fields.Length != 6 || (fields[1] != "TCP4" && fields[1] != "TCP6"))
        {
            throw new InvalidDataException($"PROXY v1 header \"{text}\" is not \"PROXY TCP4|TCP6 source destination sport dport\" or \"PROXY UNKNOWN\"");
        }

        var family = fields[1] == "TCP4" ? System.Net.Sockets.AddressFamily.InterNetwork : System.Net.Sockets.AddressFamily.InterNetworkV6;
        var source = new IPEndPoint(ParseAddress(fields[2], family, text), ParsePort(fields[4], text));
        var destination = new IPEndPoint(ParseAddress(fields[3], family, text), ParsePort(fields[5], text));
        info = new ProxyProtocolInfo(1, isLocal: false, source, destination, []);
        length = end + 2;
        return true;
    }

    private static IPAddress ParseAddress(string field, System.Net.Sockets.AddressFamily family, string header)
    {
        // IPAddress.TryParse also takes inet_aton forms ("1.2.3", "0x7f.1") and IPv6 scope ids and
        // brackets ("fe80::1%1", "[::1]"); the header allows dotted quads and plain IPv6 literals only.
        var plain = family == System.Net.Sockets.AddressFamily.InterNetwork
            ? field.Count(c => c == '.') == 3 && field.All(c => char.IsAsciiDigit(c) || c == '.')
            : field.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.');
        if (!plain || !IPAddress.TryParse(field, out var address) || address.AddressFamily != family)
        {
            throw new InvalidDataException($"PROXY v1 header \"{header}\" has an invalid {(family == System.Net.Sockets.AddressFamily.InterNetwork ? "IPv4" : "IPv6")} address '{field}'");
        }

        return address;
    }

    private static int ParsePort(string field, string header)
    {
        if (field.Length is 0 or > 5 || (field.Length > 1 && field[0] == '0')
            || !int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            throw new InvalidDataException($"PROXY v1 header \"{header}\" has an invalid port '{field}'");
        }

        return port;
    }
}
