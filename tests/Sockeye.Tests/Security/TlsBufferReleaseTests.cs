using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Sockeye.Handlers;
using Sockeye.Security;
using Sockeye.Security.Internal;
using Sockeye.Tests.Support;
using static Sockeye.Tests.Security.TestCertificates;

namespace Sockeye.Tests.Security;

/// <summary>TlsOptions.ReleaseIdleBuffers: OpenSSL's SSL_MODE_RELEASE_BUFFERS on each server connection,
/// and the clean fallback when the runtime's internals are not what the code expects.</summary>
public class TlsBufferReleaseTests
{
    private const long ReleaseBuffersMode = 0x10; // SSL_MODE_RELEASE_BUFFERS

    private static readonly X509Certificate2 Certificate = Create("release.test");

    /// <summary>What the server saw of one connection after its handshake.</summary>
    private sealed record Seen(bool Releases, long? Mode);

    private static TcpServerOptions Options(Action<TlsOptions>? configure = null, ILoggerFactory? logging = null)
    {
        var tls = new TlsOptions { Certificate = TlsCertificate.FromCertificate(Certificate), ReloadOnFileChange = false };
        configure?.Invoke(tls);
        return new TcpServerOptions { Tls = tls, LoggerFactory = logging };
    }

    /// <summary>Starts an echo server that records, for each connection, whether its buffers are released
    /// and the OpenSSL mode bits of its SSL object.</summary>
    private static async Task<(TcpServer Server, ConcurrentQueue<Seen> Seen)> StartAsync(TcpServerOptions options)
    {
        var seen = new ConcurrentQueue<Seen>();
        var server = new TcpServer(options);
        await server.StartAsync(async connection =>
        {
            var tls = (TlsConnection)connection;
            seen.Enqueue(new Seen(tls.ReleasesIdleBuffers, OpenSslBufferRelease.Shared.GetMode(tls.Ssl)));
            await EchoHandler.Instance.HandleAsync(connection);
        });
        return (server, seen);
    }

    private static async Task EchoAsync(TcpServer server, params int[] sizes)
    {
        await using var client = await ConnectAsync(server.LocalEndPoint!);
        foreach (var size in sizes)
        {
            var data = new byte[size];
            Random.Shared.NextBytes(data);
            await client.SendAsync(data);
            Assert.Equal(data, await client.ReceiveExactlyAsync(size));
        }
    }

    [Fact]
    public async Task ServerConnectionsReleaseTheirRecordBuffersAndEchoesOfEverySizeStillArrive()
    {
        Assert.True(OperatingSystem.IsLinux(), "these tests check .NET's OpenSSL-backed SslStream");
        var (server, seen) = await StartAsync(Options());
        await using var _ = server;

        // Sizes around one TLS record (16 KiB) and far beyond: each read and write frees and re-allocates the buffers.
        await EchoAsync(server, 1, 16_384, 16_385, 200_000, 3);
        await EchoAsync(server, 70_000);

        Assert.Equal(2, seen.Count);
        Assert.All(seen, s =>
        {
            Assert.True(s.Releases);
            Assert.True((s.Mode & ReleaseBuffersMode) != 0, $"SSL mode {s.Mode:x} lacks SSL_MODE_RELEASE_BUFFERS");
        });
    }

    [Fact]
    public async Task TurnedOffLeavesOpenSslsModeAsDotNetSetIt()
    {
        var (server, seen) = await StartAsync(Options(t => t.ReleaseIdleBuffers = false));
        await using var _ = server;

        await EchoAsync(server, 20_000);

        var only = Assert.Single(seen);
        Assert.False(only.Releases);
        Assert.NotNull(only.Mode);
        Assert.Equal(0, only.Mode!.Value & ReleaseBuffersMode);
    }

    [Theory]
    [InlineData("_noSuchField", "libssl.so", "_noSuchField")]
    [InlineData("_securityContext", "libnosuchtls.so", "libnosuchtls.so")]
    public async Task WithoutTheExpectedInternalsTlsWorksAsBeforeAndTheReasonIsLoggedOnce(string field, string library, string reasonMentions)
    {
        var release = new OpenSslBufferRelease(field, library);
        using var log = new FakeLoggerProvider();
        using var logging = LoggerFactory.Create(b => b.AddProvider(log));
        var (server, seen) = await StartAsync(Options(t => t.BufferRelease = release, logging));
        await using var _ = server;

        await EchoAsync(server, 1, 40_000);
        await EchoAsync(server, 5);

        Assert.Equal(2, seen.Count);
        Assert.All(seen, s =>
        {
            Assert.False(s.Releases);
            Assert.Equal(0, s.Mode!.Value & ReleaseBuffersMode);
        });
        Assert.Contains(reasonMentions, release.UnavailableReason, StringComparison.Ordinal);
        var logged = Assert.Single(log.Collector.GetSnapshot(), e => e.Id.Id == 1300);
        Assert.Contains(reasonMentions, logged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHandleThatIsNotAServerConnectionIsLeftAlone()
    {
        // The guard before anything is written through the pointer: a client-side SSL object fails the check.
        var (server, _) = await StartAsync(Options(t => t.ReleaseIdleBuffers = false));
        await using var __ = server;
        await using var client = await ConnectAsync(server.LocalEndPoint!);
        var release = new OpenSslBufferRelease("_securityContext", "libssl.so");

        Assert.False(release.TryEnable(client.Stream));
        Assert.Contains("does not look like", release.UnavailableReason, StringComparison.Ordinal);
        Assert.Equal(0, release.GetMode(client.Stream)!.Value & ReleaseBuffersMode);
        await client.SendAsync(new byte[] { 42 });
        Assert.Equal([42], await client.ReceiveExactlyAsync(1));
    }

    /// <summary>Starts an echo server that hands each TLS connection to the test.</summary>
    private static async Task<(TcpServer Server, ConcurrentQueue<TlsConnection> Connections)> StartCapturingAsync(TcpServerOptions options)
    {
        var connections = new ConcurrentQueue<TlsConnection>();
        var server = new TcpServer(options);
        await server.StartAsync(async connection =>
        {
            connections.Enqueue((TlsConnection)connection);
            await EchoHandler.Instance.HandleAsync(connection);
        });
        return (server, connections);
    }

    [Fact]
    public async Task AnIdleConnectionGivesBackTheBioBuffersALargeMessageGrew()
    {
        var (server, connections) = await StartCapturingAsync(Options());
        await using var _ = server;
        await using var client = await ConnectAsync(server.LocalEndPoint!);
        var message = new byte[20_000];
        Random.Shared.NextBytes(message);
        await client.SendAsync(message);
        Assert.Equal(message, await client.ReceiveExactlyAsync(message.Length));

        // The echo's next read waits with nothing buffered: that is when the buffers go back.
        var ssl = Assert.Single(connections).Ssl;
        await Loopback.EventuallyAsync(
            () => OpenSslBioTrim.Shared.Capacity(ssl, input: true) is >= 0 and <= OpenSslBioTrim.KeepBytes
                && OpenSslBioTrim.Shared.Capacity(ssl, input: false) is >= 0 and <= OpenSslBioTrim.KeepBytes,
            $"both BIO buffers of the idle connection are at most {OpenSslBioTrim.KeepBytes} bytes (input {OpenSslBioTrim.Shared.Capacity(ssl, input: true)}, output {OpenSslBioTrim.Shared.Capacity(ssl, input: false)})");

        // Trimmed buffers grow again for the next large message, and every byte still arrives.
        foreach (var size in new[] { 1, 70_000, 20_000, 16_385, 3 })
        {
            var data = new byte[size];
            Random.Shared.NextBytes(data);
            await client.SendAsync(data);
            Assert.Equal(data, await client.ReceiveExactlyAsync(size));
        }
    }

    [Fact]
    public async Task WithReleaseIdleBuffersOffTheBioBuffersKeepRoomForTheLargestRecordTheyHeld()
    {
        var (server, connections) = await StartCapturingAsync(Options(t => t.ReleaseIdleBuffers = false));
        await using var _ = server;
        await using var client = await ConnectAsync(server.LocalEndPoint!);
        var message = new byte[20_000];
        await client.SendAsync(message);
        Assert.Equal(message, await client.ReceiveExactlyAsync(message.Length));

        // What the trim saves: each BIO still holds room for the largest record it carried (measured 4,852
        // bytes each: the pipe hands the SslStream 4 KiB blocks, so records are at most 4 KiB of plaintext).
        var ssl = Assert.Single(connections).Ssl;
        Assert.True(OpenSslBioTrim.Shared.Capacity(ssl, input: true) > OpenSslBioTrim.KeepBytes, $"input BIO {OpenSslBioTrim.Shared.Capacity(ssl, input: true)} bytes");
        Assert.True(OpenSslBioTrim.Shared.Capacity(ssl, input: false) > OpenSslBioTrim.KeepBytes, $"output BIO {OpenSslBioTrim.Shared.Capacity(ssl, input: false)} bytes");
    }
}
