using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Sockeye.Security;
using Sockeye.Security.Internal;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Security;

/// <summary>The PROXY v2 CRC32C TLV (PP2_TYPE_CRC32C): checked against a bitwise reference, in the
/// parser and on a real listener.</summary>
public sealed class ProxyChecksumTests
{
    private static readonly IPEndPoint Client = new(IPAddress.Parse("203.0.113.7"), 51000);
    private static readonly IPEndPoint Destination = new(IPAddress.Parse("198.51.100.1"), 443);

    // An IPv4 header's TLVs start after 16 fixed bytes and 12 address bytes; a TLV's value after its 3.
    private const int FirstTlvValue = 16 + 12 + 3;

    private static readonly byte[] Zero = [0, 0, 0, 0];

    /// <summary>A signed header whose CRC32C TLV comes first, before an authority TLV.</summary>
    private static byte[] SignedFirst() =>
        ProxyHeaders.WithChecksum(ProxyHeaders.V2(Client, Destination, false, (ProxyTlv.Crc32c, Zero), (ProxyTlv.Authority, "api.example.com"u8.ToArray())), FirstTlvValue);

    /// <summary>A signed header whose CRC32C TLV comes last, after an authority TLV.</summary>
    private static byte[] SignedLast()
    {
        var header = ProxyHeaders.V2(Client, Destination, false, (ProxyTlv.Authority, "api.example.com"u8.ToArray()), (ProxyTlv.Crc32c, Zero));
        return ProxyHeaders.WithChecksum(header, header.Length - 4);
    }

    [Fact]
    public void TheReferenceAndTheLibraryGiveTheKnownCheckValueAndAgreeOnEveryLength()
    {
        Assert.Equal(0xE3069283u, ReferenceCrc32C.Compute("123456789"u8));
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));

        var random = new Random(1234);
        for (var length = 0; length <= 70; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(ReferenceCrc32C.Compute(data), Crc32C.Compute(data));
        }
    }

    [Theory]
    [InlineData("first")]
    [InlineData("last")]
    public void HeaderWithACorrectChecksumParsesAfterEveryPrefixAskedForMore(string position)
    {
        var header = position == "first" ? SignedFirst() : SignedLast();
        var withData = header.Concat("hello"u8.ToArray()).ToArray();
        for (var i = 0; i < header.Length; i++)
        {
            Assert.False(ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(withData, 0, i), 4096, out _, out _), $"a prefix of {i} bytes parsed");
        }

        Assert.True(ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(withData), 4096, out var info, out var length));

        Assert.Equal(header.Length, length);
        Assert.Equal(Client, info!.SourceEndPoint);
        Assert.Equal("api.example.com", info.Authority);
        var sent = BinaryPrimitives.ReadUInt32BigEndian(info.Find(ProxyTlv.Crc32c)!.Value.Span);
        var zeroed = (byte[])header.Clone();
        var at = position == "first" ? FirstTlvValue : header.Length - 4;
        Zero.CopyTo(zeroed, at);
        Assert.Equal(ReferenceCrc32C.Compute(zeroed), sent);
    }

    public static TheoryData<string, byte[], string> BadChecksums()
    {
        var addressChanged = SignedFirst();
        addressChanged[16] ^= 0x01; // the first byte of the source address
        var checksumChanged = SignedFirst();
        checksumChanged[FirstTlvValue + 3] ^= 0x80;
        var littleEndian = SignedFirst();
        littleEndian.AsSpan(FirstTlvValue, 4).Reverse();
        var unsigned = ProxyHeaders.V2(Client, Destination, false, (ProxyTlv.Crc32c, Zero));
        var twice = ProxyHeaders.V2(Client, Destination, false, (ProxyTlv.Crc32c, Zero), (ProxyTlv.Crc32c, Zero));
        return new TheoryData<string, byte[], string>
        {
            { "an address byte changed", addressChanged, "fails its CRC32C check" },
            { "a checksum bit changed", checksumChanged, "fails its CRC32C check" },
            { "checksum in little-endian order", littleEndian, "fails its CRC32C check" },
            { "checksum left at zero", unsigned, "the TLV says 0x00000000" },
            { "3-byte checksum", ProxyHeaders.V2(Client, Destination, false, (ProxyTlv.Crc32c, [1, 2, 3])), "CRC32C TLV has 3 bytes, expected 4" },
            { "5-byte checksum", ProxyHeaders.V2(Client, Destination, false, (ProxyTlv.Crc32c, [1, 2, 3, 4, 5])), "CRC32C TLV has 5 bytes, expected 4" },
            { "two checksums", twice, "more than one CRC32C TLV" },
        };
    }

    [Theory]
    [MemberData(nameof(BadChecksums))]
    public void HeaderWithABadChecksumThrowsNamingTheFault(string name, byte[] header, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(header), 4096, out _, out _));
        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), $"{name}: '{error.Message}' does not mention '{expected}'");
    }

    [Fact]
    public async Task ListenerServesHeadersWithACorrectChecksumAndWithoutOne()
    {
        await using var server = new TcpServer(ProxyProtocolTests.Options());
        await server.StartAsync(ProxyProtocolTests.ReportClientAsync);

        using (var signed = await Loopback.ConnectAsync(server.LocalEndPoint!))
        {
            await signed.SendAllAsync(SignedLast());
            Assert.Equal($"{Client} v2 {Destination} api.example.com", await ProxyProtocolTests.ReadLineAsync(signed));
        }

        using (var plain = await Loopback.ConnectAsync(server.LocalEndPoint!))
        {
            await plain.SendAllAsync(ProxyHeaders.V2(Client, Destination, false, (ProxyTlv.Authority, "plain.example.com"u8.ToArray())));
            Assert.Equal($"{Client} v2 {Destination} plain.example.com", await ProxyProtocolTests.ReadLineAsync(plain));
        }

        Assert.Equal(0, server.RefusedConnections);
    }

    [Fact]
    public async Task ListenerRefusesAndCountsAHeaderWithAWrongChecksumWithoutRunningTheHandler()
    {
        var handled = 0;
        await using var server = new TcpServer(ProxyProtocolTests.Options());
        await server.StartAsync(c =>
        {
            Interlocked.Increment(ref handled);
            return Task.CompletedTask;
        });
        var header = SignedLast();
        header[^1] ^= 0x01;
        using var socket = await Loopback.ConnectAsync(server.LocalEndPoint!);

        await socket.SendAllAsync(header);

        Assert.Equal(SocketError.ConnectionReset, await socket.ReceiveEndAsync());
        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.ProxyHeaderInvalid) == 1, "the bad checksum was counted");
        Assert.Equal(1, server.RefusedConnections);
        Assert.Equal(0, handled);
    }
}
