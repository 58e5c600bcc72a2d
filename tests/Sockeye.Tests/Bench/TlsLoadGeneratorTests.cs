using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using Sockeye.Bench;
using Sockeye.Cli.Commands;
using Sockeye.Handlers;
using Sockeye.Security;
using Sockeye.Tests.Security;

namespace Sockeye.Tests.Bench;

/// <summary><c>sockeye bench --tls</c> against real TLS servers on loopback.</summary>
public class TlsLoadGeneratorTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(40);
    private static readonly X509Certificate2 Certificate = TestCertificates.Create("bench.test");

    private static TcpServer TlsServer(bool defaultCertificate = true)
    {
        var tls = new TlsOptions { ReloadOnFileChange = false };
        if (defaultCertificate)
        {
            tls.Certificate = TlsCertificate.FromCertificate(Certificate);
        }
        else
        {
            tls.ServerCertificates["bench.test"] = TlsCertificate.FromCertificate(Certificate);
        }

        return new TcpServer(new TcpServerOptions { Tls = tls });
    }

    private static BenchSettings Settings(TcpServer server, BenchMode mode, int connections) => new()
    {
        Mode = mode,
        Host = "127.0.0.1",
        Port = server.LocalEndPoint!.Port,
        Connections = connections,
        Duration = TimeSpan.FromMilliseconds(600),
        Warmup = TimeSpan.FromMilliseconds(100),
        Quiet = true,
        Tls = true,
    };

    private static Task<BenchResult> RunAsync(BenchSettings settings) =>
        new BenchCoordinator(settings, TextWriter.Null).RunAsync(CancellationToken.None).WaitAsync(Limit);

    [Fact]
    public async Task EchoOverTlsCountsRoundTripsWithNoMismatch()
    {
        await using var server = TlsServer();
        await server.StartAsync(EchoHandler.Instance);

        var result = await RunAsync(Settings(server, BenchMode.Echo, 8) with { Depth = 2, Size = 3000 });

        Assert.True(result.Operations > 0, "no round trip was counted");
        Assert.Equal(0, result.Operations % 2);
        Assert.Equal(0, result.Mismatches);
        Assert.Equal(0, result.Errors);
        Assert.Equal(8, result.ConnectionsHeld);
        Assert.Equal(0, server.RefusedConnections); // every handshake succeeded on the server too
    }

    [Fact]
    public async Task IdleOverTlsHoldsEveryConnectionAndProvesItAliveAfterTheHold()
    {
        await using var server = TlsServer();
        await server.StartAsync(EchoHandler.Instance);

        var result = await RunAsync(Settings(server, BenchMode.Idle, 30) with { ServerPid = Environment.ProcessId });

        Assert.Equal(30, result.ConnectionsHeld);
        Assert.Equal(30, result.Operations);
        Assert.Equal(0, result.Errors);
        Assert.Equal(30, server.AcceptedConnections);
        Assert.NotNull(result.ServerBytesPerConnection);
    }

    [Fact]
    public async Task ChurnOverTlsHandshakesEveryShortConnection()
    {
        await using var server = TlsServer();
        await server.StartAsync(EchoHandler.Instance);

        var result = await RunAsync(Settings(server, BenchMode.Churn, 3));

        Assert.True(result.Operations > 0, $"no short connection was counted: errors {result.Errors}, accepted {server.AcceptedConnections}");
        Assert.Equal(0, result.Errors);
        Assert.Equal(0, result.Mismatches);
        Assert.True(server.AcceptedConnections >= result.Operations);
        // Stopping cancels each worker's handshake in flight, if any: at most one per worker fails.
        Assert.InRange(server.GetRefusalCount(RefusalReason.TlsHandshakeFailed), 0, 3);
    }

    [Fact]
    public async Task TlsAgainstAPlainServerFailsEveryConnectionInsteadOfHanging()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);

        var result = await RunAsync(Settings(server, BenchMode.Idle, 4) with { ConnectTimeout = TimeSpan.FromSeconds(5) });

        Assert.Equal(4, result.ConnectFailures);
        Assert.Equal(0, result.ConnectionsHeld);
    }

    [Fact]
    public async Task ServerNameIsSentSoAServerWithoutDefaultCertificateServesIt()
    {
        await using var server = TlsServer(defaultCertificate: false);
        await server.StartAsync(EchoHandler.Instance);

        var named = await RunAsync(Settings(server, BenchMode.Idle, 3) with { TlsServerName = "bench.test" });
        var unnamed = await RunAsync(Settings(server, BenchMode.Idle, 3));

        Assert.Equal(3, named.ConnectionsHeld);
        Assert.Equal(0, named.Errors);
        Assert.Equal(3, unnamed.ConnectFailures);
        Assert.Equal(3, server.GetRefusalCount(RefusalReason.TlsUnknownServerName));
    }

    [Fact]
    public void TlsOptionsParseAndReachTheChildProcesses()
    {
        var root = new RootCommand { BenchCommand.Create() };
        Assert.Empty(root.Parse("bench idle --tls --tls-sni bench.test").Errors);

        var settings = new BenchSettings { Mode = BenchMode.Churn, Connections = 10, Processes = 2, Tls = true, TlsServerName = "bench.test" };
        var arguments = ChildParticipant.Arguments(settings, 0, 2).ToList();
        Assert.Contains("--tls", arguments);
        Assert.Equal("bench.test", arguments[arguments.IndexOf("--tls-sni") + 1]);
        Assert.Empty(root.Parse(arguments.ToArray()).Errors);
    }
}
