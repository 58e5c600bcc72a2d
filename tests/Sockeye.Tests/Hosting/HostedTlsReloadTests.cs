using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sockeye.Handlers;
using Sockeye.Hosting;
using Sockeye.Security;
using Sockeye.Tests.Support;
using static Sockeye.Tests.Security.TestCertificates;

namespace Sockeye.Tests.Hosting;

/// <summary><see cref="SockeyeListeners.ReloadTlsCertificates"/>: the hosted listeners' reload entry point (what a SIGHUP handler calls).</summary>
public sealed class HostedTlsReloadTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sockeye-hosted-tls-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task ReloadingTheListenersServesTheNewCertificateOnEveryTlsListenerAndSkipsThePlainOne()
    {
        var first = Create("first.test");
        var second = Create("second.test");
        var (certificateA, keyA) = WritePem(first, _directory, "a");
        var (certificateB, keyB) = WritePem(first, _directory, "b");
        using var host = TestHost.Build(s => s
            .AddListener("tls-a", EchoHandler.Instance, o => o.Server.Tls = Tls(certificateA, keyA))
            .AddListener("tls-b", EchoHandler.Instance, o => o.Server.Tls = Tls(certificateB, keyB))
            .AddListener("plain", EchoHandler.Instance));
        await host.StartAsync().WaitAsync(Loopback.Patience);
        var listeners = host.Services.GetRequiredService<SockeyeListeners>();
        await using (var before = await ConnectAsync(listeners["tls-a"].LocalEndPoint!))
        {
            Assert.Equal(first.Thumbprint, before.ServerCertificate.Thumbprint);
        }

        WritePem(second, _directory, "a");
        WritePem(second, _directory, "b");
        var reloaded = listeners.ReloadTlsCertificates();

        Assert.Equal(2, reloaded);
        foreach (var name in new[] { "tls-a", "tls-b" })
        {
            await using var after = await ConnectAsync(listeners[name].LocalEndPoint!);
            Assert.Equal(second.Thumbprint, after.ServerCertificate.Thumbprint);
        }

        Assert.False(listeners["plain"].ReloadTlsCertificates());
        await host.StopAsync().WaitAsync(Loopback.Patience);
    }

    [Fact]
    public async Task AListenerWhoseFilesAreBrokenKeepsItsCertificateAndIsNotCounted()
    {
        var first = Create("first.test");
        var (certificate, key) = WritePem(first, _directory, "broken");
        using var host = TestHost.Build(s => s.AddListener("tls", EchoHandler.Instance, o => o.Server.Tls = Tls(certificate, key)));
        await host.StartAsync().WaitAsync(Loopback.Patience);
        var listeners = host.Services.GetRequiredService<SockeyeListeners>();

        File.WriteAllText(certificate, "-----BEGIN CERTIFICATE-----\nnot base64\n");

        Assert.Equal(0, listeners.ReloadTlsCertificates());
        await using var client = await ConnectAsync(listeners["tls"].LocalEndPoint!);
        Assert.Equal(first.Thumbprint, client.ServerCertificate.Thumbprint);
        await host.StopAsync().WaitAsync(Loopback.Patience);
    }

    // No file watching: the test proves the call reloads, not the watcher.
    private static TlsOptions Tls(string certificate, string key) =>
        new() { Certificate = TlsCertificate.FromPemFiles(certificate, key), ReloadOnFileChange = false };
}
