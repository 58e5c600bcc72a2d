using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Tests.Support;
using static Sockeye.Tests.Security.TestCertificates;

namespace Sockeye.Tests.Security;

/// <summary><c>sockeye serve echo</c> with the edge-security flags, as a real process.</summary>
public sealed class ServeSecurityCliTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sockeye-cli-tls-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("serve echo --proxy-protocol", "--proxy-protocol needs --trusted-proxies")]
    [InlineData("serve echo --trusted-proxies 10.0.0.0/33", "--trusted-proxies: '10.0.0.0/33' is not an address range")]
    [InlineData("serve echo --tls-cert /nonexistent.pem", "--tls-cert: file '/nonexistent.pem' does not exist")]
    [InlineData("serve echo --max-connections-per-ip -1", "--max-connections-per-ip must be at least 0, got -1")]
    [InlineData("serve echo --accept-rate -3", "--accept-rate must be at least 0, got -3")]
    [InlineData("serve echo --tls-max-handshakes -1", "--tls-max-handshakes must be at least 0, got -1")]
    [InlineData("serve echo --tls-trim-interval soon", "--tls-trim-interval")]
    [InlineData("serve echo --tls-ciphers Fastest", "--tls-ciphers")]
    public async Task BadSecurityArgumentsGiveOneLineNamingTheArgument(string arguments, string message)
    {
        var (exitCode, _, stderr) = await CliProcess.RunAsync(arguments);

        Assert.Equal(2, exitCode);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EchoServesTlsFromPemFilesAndSighupReloadsThem()
    {
        var first = Create("first.test");
        var second = Create("second.test");
        var (certificate, key) = WritePem(first, _directory, "server");
        using var server = CliProcess.Start($"serve echo --port 0 --tls-cert {certificate} --tls-key {key}");
        var endPoint = await server.ListeningAsync();

        await using (var client = await ConnectAsync(endPoint))
        {
            Assert.Equal(first.Thumbprint, client.ServerCertificate.Thumbprint);
            await client.SendAsync("over tls"u8.ToArray());
            Assert.Equal("over tls", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(8)));
        }

        WritePem(second, _directory, "server");
        server.Signal("HUP");
        await Loopback.EventuallyAsync(
            async () =>
            {
                await using var client = await ConnectAsync(endPoint);
                return client.ServerCertificate.Thumbprint == second.Thumbprint;
            },
            "the reloaded certificate is served",
            every: TimeSpan.FromMilliseconds(50));

        Assert.False(server.HasExited, "SIGHUP must reload, not stop the server");
        await Loopback.EventuallyAsync(() => server.Stderr.Contains($"[1400] SIGHUP received (pid {server.Id}): TLS certificates reloaded", StringComparison.Ordinal), "the SIGHUP is logged");
        server.Signal("TERM");
        Assert.Equal(0, await server.WaitForExitAsync());
    }

    [Fact]
    public async Task EchoWithTlsCiphersAes128FirstNegotiatesAes128Gcm()
    {
        var (certificate, key) = WritePem(Create("ciphers.test"), _directory, "ciphers");
        using var server = CliProcess.Start($"serve echo --port 0 --tls-cert {certificate} --tls-key {key} --tls-ciphers Aes128First");
        var endPoint = await server.ListeningAsync();
        await using var client = await ConnectAsync(endPoint);
        await client.SendAsync("aes"u8.ToArray());
        Assert.Equal("aes", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(3)));
        Assert.Equal(System.Net.Security.TlsCipherSuite.TLS_AES_128_GCM_SHA256, client.Stream.NegotiatedCipherSuite);
        server.Signal("TERM");
        Assert.Equal(0, await server.WaitForExitAsync());
    }

    [Fact]
    public async Task EchoWithProxyProtocolAndPerAddressCapRefusesTheSecondConnectionFromOneClient()
    {
        using var server = CliProcess.Start("serve echo --port 0 --proxy-protocol --trusted-proxies 127.0.0.0/8 --max-connections-per-ip 1");
        var endPoint = await server.ListeningAsync();
        var client = new IPEndPoint(IPAddress.Parse("198.51.100.10"), 1000);
        var destination = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 7000);

        using var first = await Loopback.ConnectAsync(endPoint);
        await first.SendAllAsync(ProxyHeaders.V1(client, destination).Concat("hi"u8.ToArray()).ToArray());
        Assert.Equal("hi"u8.ToArray(), await first.ReceiveExactlyAsync(2));

        using var second = await Loopback.ConnectAsync(endPoint);
        await second.SendAllAsync(ProxyHeaders.V2(client, destination));
        Assert.Equal(SocketError.ConnectionReset, await second.ReceiveEndAsync());
    }
}
