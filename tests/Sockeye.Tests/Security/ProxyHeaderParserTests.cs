using System.Buffers;
using System.Net;
using System.Text;
using Sockeye.Security;
using Sockeye.Security.Internal;

namespace Sockeye.Tests.Security;

/// <summary>The PROXY header parser, fed whole headers, every prefix, and broken ones.</summary>
public sealed class ProxyHeaderParserTests
{
    private static readonly IPEndPoint Client = new(IPAddress.Parse("203.0.113.7"), 51000);
    private static readonly IPEndPoint Proxy = new(IPAddress.Parse("198.51.100.1"), 443);

    public static TheoryData<string, byte[]> ValidHeaders => new()
    {
        { "v1 TCP4", ProxyHeaders.V1(Client, Proxy) },
        { "v1 TCP6", ProxyHeaders.V1(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 1), new IPEndPoint(IPAddress.Parse("2001:db8::1"), 65535)) },
        { "v2 IPv4", ProxyHeaders.V2(Client, Proxy) },
        { "v2 IPv6 with TLVs", ProxyHeaders.V2(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 1), new IPEndPoint(IPAddress.Parse("2001:db8::1"), 2), false, (ProxyTlv.Authority, "example.com"u8.ToArray())) },
    };

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void EveryPrefixAsksForMoreAndTheWholeHeaderParsesLeavingTheRest(string name, byte[] header)
    {
        var withData = header.Concat("hello"u8.ToArray()).ToArray();
        for (var i = 0; i < header.Length; i++)
        {
            Assert.False(ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(withData, 0, i), 4096, out _, out _), $"{name}: a prefix of {i} bytes parsed");
        }

        Assert.True(ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(withData), 4096, out var info, out var length), name);
        Assert.Equal(header.Length, length);
        Assert.NotNull(info!.SourceEndPoint);
        Assert.False(info.IsLocal);
    }

    [Fact]
    public void V2ExposesAddressesAndTlvs()
    {
        var header = ProxyHeaders.V2(Client, Proxy, false, (ProxyTlv.Authority, "api.example.com"u8.ToArray()), (ProxyTlv.Alpn, "h2"u8.ToArray()), (0xE1, [1, 2, 3]));

        Assert.True(ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(header), 4096, out var info, out _));

        Assert.Equal(2, info!.Version);
        Assert.Equal(Client, info.SourceEndPoint);
        Assert.Equal(Proxy, info.DestinationEndPoint);
        Assert.Equal("api.example.com", info.Authority);
        Assert.Equal("h2", info.Alpn);
        Assert.Equal(new byte[] { 1, 2, 3 }, info.Find(0xE1)!.Value.ToArray());
        Assert.Equal(3, info.Tlvs.Count);
    }

    [Fact]
    public void V2LocalCommandHasNoClient()
    {
        var header = ProxyHeaders.V2(Client, Proxy, local: true);
        Assert.True(ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(header), 4096, out var info, out _));
        Assert.True(info!.IsLocal);
        Assert.Null(info.SourceEndPoint);
    }

    [Fact]
    public void V1UnknownIsLocal()
    {
        Assert.True(ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>("PROXY UNKNOWN\r\n"u8.ToArray()), 4096, out var info, out var length));
        Assert.True(info!.IsLocal);
        Assert.Equal(15, length);
    }

    public static TheoryData<string, byte[], string> BrokenHeaders()
    {
        var v2 = ProxyHeaders.V2(Client, Proxy);
        var badVersion = (byte[])v2.Clone();
        badVersion[12] = 0x31;
        var badCommand = (byte[])v2.Clone();
        badCommand[12] = 0x22;
        var badFamily = (byte[])v2.Clone();
        badFamily[13] = 0x41;
        var dgram = (byte[])v2.Clone();
        dgram[13] = 0x12;
        var dgram6 = ProxyHeaders.V2(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 1), new IPEndPoint(IPAddress.Parse("2001:db8::1"), 2));
        dgram6[13] = 0x22;
        var unknownTransport = (byte[])v2.Clone();
        unknownTransport[13] = 0x1F;
        var unspecTransport = (byte[])v2.Clone();
        unspecTransport[13] = 0x10;
        var oversize = (byte[])v2.Clone();
        oversize[14] = 0xFF;
        var shortAddresses = ProxyHeaders.Signature.Concat(new byte[] { 0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4 }).ToArray();
        var brokenTlv = ProxyHeaders.Signature.Concat(new byte[] { 0x21, 0x00, 0x00, 0x05, 0x02, 0x00, 0x09, 1, 2 }).ToArray();
        return new TheoryData<string, byte[], string>
        {
            { "garbage", "GET / HTTP/1.1\r\n\r\n"u8.ToArray(), "starts with byte 0x47" },
            { "bad signature", ProxyHeaders.Signature.Take(6).Append((byte)0x00).ToArray(), "signature" },
            { "version 3", badVersion, "version 3" },
            { "command 2", badCommand, "command 2" },
            { "family 4", badFamily, "address family 4" },
            { "DGRAM over IPv4", dgram, "protocol byte 0x12 (DGRAM) on a stream listener" },
            { "DGRAM over IPv6", dgram6, "protocol byte 0x22 (DGRAM) on a stream listener" },
            { "transport 0xF", unknownTransport, "protocol byte 0x1F, expected 0x00, 0x11, 0x21 or 0x31" },
            { "INET with UNSPEC transport", unspecTransport, "protocol byte 0x10" },
            { "oversize", oversize, "exceeds MaxHeaderLength 4096" },
            { "addresses cut", shortAddresses, "too few" },
            { "TLV cut", brokenTlv, "TLV 0x02 declares 9 bytes" },
            { "v1 bad prefix", "PROXX TCP4"u8.ToArray(), "starts with \"PROXY \"" },
            { "v1 bad protocol", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"u8.ToArray(), "is not" },
            { "v1 bad address", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"u8.ToArray(), "invalid IPv4 address '1.2.3'" },
            { "v1 v6 address as TCP4", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n"u8.ToArray(), "invalid IPv4 address" },
            { "v1 IPv6 scope id", "PROXY TCP6 fe80::1%1 2001:db8::1 1 2\r\n"u8.ToArray(), "invalid IPv6 address 'fe80::1%1'" },
            { "v1 IPv6 in brackets", "PROXY TCP6 [2001:db8::7] 2001:db8::1 1 2\r\n"u8.ToArray(), "invalid IPv6 address '[2001:db8::7]'" },
            { "v1 bad port", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"u8.ToArray(), "invalid port '65536'" },
            { "v1 leading zero port", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"u8.ToArray(), "invalid port '01'" },
            { "v1 bare LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"u8.ToArray(), "bare LF" },
            { "v1 no CRLF", Encoding.ASCII.GetBytes("PROXY TCP4 " + new string('1', 120)), "no CRLF within 107" },
            { "v1 control byte", "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n"u8.ToArray(), "non-printable byte 0x09" },
        };
    }

    [Fact]
    public void ALocalHeaderIsAcceptedWhateverItsProtocolByte()
    {
        // LOCAL (a proxy's own health check): the spec says the protocol block is ignored.
        var local = ProxyHeaders.V2(Client, Proxy, local: true);
        local[13] = 0x12;

        Assert.True(ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(local), 4096, out var info, out _));
        Assert.True(info!.IsLocal);
    }

    [Theory]
    [MemberData(nameof(BrokenHeaders))]
    public void BrokenHeaderThrowsNamingTheFault(string name, byte[] bytes, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(bytes), 4096, out _, out _));
        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), $"{name}: '{error.Message}' does not mention '{expected}'");
    }
}
