using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Handlers;
using Sockeye.Security;
using Sockeye.Tests.Support;
using static Sockeye.Tests.Security.TestCertificates;

namespace Sockeye.Tests.Security;

/// <summary>The cap on TLS handshakes under way (<see cref="TlsOptions.MaxPendingHandshakes"/>) and the
/// native memory trim after aborted handshakes, over real loopback sockets.</summary>
public sealed class TlsHandshakeCapTests
{
    private static readonly X509Certificate2 Certificate = Create("cap.test");

    private static TcpServerOptions Options(Action<TlsOptions> configure)
    {
        var tls = new TlsOptions { Certificate = TlsCertificate.FromCertificate(Certificate), ReloadOnFileChange = false };
        configure(tls);
        return new TcpServerOptions { Tls = tls };
    }

    /// <summary>Opens <paramref name="count"/> sockets that never send a ClientHello: each holds a
    /// pending handshake until it closes or the handshake timeout cuts it.</summary>
    private static async Task<List<Socket>> StallAsync(TcpServer server, int count)
    {
        var stalled = new List<Socket>();
        for (var i = 0; i < count; i++)
        {
            stalled.Add(await Loopback.ConnectAsync(server.LocalEndPoint!));
        }

        await Loopback.EventuallyAsync(() => server.PendingTlsHandshakes == count, $"{count} handshakes are pending");
        return stalled;
    }

    [Fact]
    public async Task HandshakesBeyondTheCapAreResetAndCountedUntilAPlaceFrees()
    {
        await using var server = new TcpServer(Options(t => t.MaxPendingHandshakes = 3));
        await server.StartAsync(EchoHandler.Instance);
        var stalled = await StallAsync(server, 3);

        Assert.Equal(SocketError.ConnectionReset, await Loopback.ConnectAndReceiveEndAsync(server.LocalEndPoint!));

        await Assert.ThrowsAnyAsync<Exception>(() => ConnectAsync(server.LocalEndPoint!));
        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.TlsHandshakesPending) == 2, "both connections past the cap were counted");
        Assert.Equal(3, server.PendingTlsHandshakes);

        // A stalled client that leaves fails its handshake and gives its place to a real client.
        stalled[0].Dispose();
        await Loopback.EventuallyAsync(() => server.PendingTlsHandshakes == 2, "the abandoned handshake gave its place back");
        await using var client = await ConnectAsync(server.LocalEndPoint!);
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await client.ReceiveExactlyAsync(4));
        Assert.Equal(2, server.GetRefusalCount(RefusalReason.TlsHandshakesPending));

        foreach (var socket in stalled)
        {
            socket.Dispose();
        }
    }

    [Fact]
    public async Task ACompletedHandshakeFreesItsPlaceWhileItsConnectionStaysOpen()
    {
        await using var server = new TcpServer(Options(t => t.MaxPendingHandshakes = 1));
        await server.StartAsync(EchoHandler.Instance);

        await using var first = await ConnectAsync(server.LocalEndPoint!);
        await first.SendAsync("a"u8.ToArray());
        Assert.Equal("a"u8.ToArray(), await first.ReceiveExactlyAsync(1));
        Assert.Equal(0, server.PendingTlsHandshakes);

        await using var second = await ConnectAsync(server.LocalEndPoint!);
        await second.SendAsync("b"u8.ToArray());
        Assert.Equal("b"u8.ToArray(), await second.ReceiveExactlyAsync(1));
        Assert.Equal(2, server.ActiveConnections);
        Assert.Equal(0, server.GetRefusalCount(RefusalReason.TlsHandshakesPending));
    }

    [Fact]
    public async Task CapOfZeroLetsEveryHandshakeWait()
    {
        await using var server = new TcpServer(Options(t => t.MaxPendingHandshakes = 0));
        await server.StartAsync(EchoHandler.Instance);

        var stalled = await StallAsync(server, 20);

        Assert.Equal(0, server.RefusedConnections);
        foreach (var socket in stalled)
        {
            socket.Dispose();
        }
    }

    [Fact]
    public void NegativeCapFailsAtConstructionNamingTheValue()
    {
        var error = Assert.Throws<ArgumentException>(() => new TcpServer(Options(t => t.MaxPendingHandshakes = -1)));
        Assert.Contains("MaxPendingHandshakes", error.Message, StringComparison.Ordinal);
        Assert.Contains("-1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AbortedHandshakesAreFollowedByOneTrimPerInterval()
    {
        var clock = new FakeTimeProvider();
        var options = Options(t => t.NativeMemoryTrimInterval = TimeSpan.FromSeconds(5));
        options.TimeProvider = clock;
        await using var server = new TcpServer(options);
        await server.StartAsync(EchoHandler.Instance);
        var trim = server.NativeTrim!;
        Assert.Equal(OperatingSystem.IsLinux(), trim.IsActive); // glibc on the Linux machines this suite runs on

        for (var i = 0; i < 3; i++)
        {
            using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
            await client.SendAllAsync("not TLS at all\r\n"u8.ToArray());
            Assert.NotEqual(SocketError.TimedOut, await client.ReceiveEndAsync());
        }

        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.TlsHandshakeFailed) == 3, "three handshakes failed");
        clock.Advance(TimeSpan.FromSeconds(4.9));
        Assert.Equal(0, trim.Trims);

        clock.Advance(TimeSpan.FromSeconds(0.2));
        if (trim.IsActive)
        {
            await Loopback.EventuallyAsync(() => trim.Trims == 1, "one trim followed the three failures");
        }

        // No failure since: the timer stays disarmed.
        clock.Advance(TimeSpan.FromSeconds(30));
        await Task.Delay(200);
        Assert.Equal(trim.IsActive ? 1 : 0, trim.Trims);
    }

    [Fact]
    public async Task TrimIntervalOfZeroNeverTrims()
    {
        var clock = new FakeTimeProvider();
        var options = Options(t => t.NativeMemoryTrimInterval = TimeSpan.Zero);
        options.TimeProvider = clock;
        await using var server = new TcpServer(options);
        await server.StartAsync(EchoHandler.Instance);

        using (var client = await Loopback.ConnectAsync(server.LocalEndPoint!))
        {
            await client.SendAllAsync("not TLS at all\r\n"u8.ToArray());
            Assert.NotEqual(SocketError.TimedOut, await client.ReceiveEndAsync());
        }

        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.TlsHandshakeFailed) == 1, "the handshake failed");
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.False(server.NativeTrim!.IsActive);
        Assert.Equal(0, server.NativeTrim.Trims);
    }
}
