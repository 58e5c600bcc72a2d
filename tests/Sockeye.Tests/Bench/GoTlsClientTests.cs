using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Sockeye.Handlers;
using Sockeye.Security;
using Sockeye.Tests.Security;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Bench;

/// <summary>
/// bench/peers/go-tlsclient (the Go load client of bench/tls-cpu/run) against a real TLS
/// <see cref="TcpServer"/> on loopback: what it counts and what it reports about the handshake must be
/// true, or the benchmark's per-handshake figures mean nothing.
/// </summary>
public sealed class GoTlsClientTests : IAsyncLifetime
{
    private static readonly X509Certificate2 Certificate = TestCertificates.Create("bench.test");
    private string? _client;

    public async Task InitializeAsync() => _client = await GoPrograms.BuildAsync("go-tlsclient");

    public Task DisposeAsync()
    {
        if (_client is not null)
        {
            File.Delete(_client);
        }

        return Task.CompletedTask;
    }

    private static TcpServer TlsServer(TlsCipherPolicy policy = TlsCipherPolicy.Default) => new(new TcpServerOptions
    {
        Tls = new TlsOptions { Certificate = TlsCertificate.FromCertificate(Certificate), ReloadOnFileChange = false, CipherPolicy = policy },
    });

    private async Task<JsonElement> RunAsync(TcpServer server, string mode, int connections)
    {
        var start = new ProcessStartInfo(_client!,
        [
            "-mode", mode, "-port", server.LocalEndPoint!.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-connections", connections.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-duration", "800ms", "-warmup", "200ms", "-server-pid", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Loopback.Patience);
        Assert.True(process.ExitCode == 0, $"go-tlsclient {mode} exited {process.ExitCode}: {await errors}");
        return JsonDocument.Parse(await output).RootElement;
    }

    [Fact]
    public async Task ChurnFullCountsFullHandshakesAndReportsWhatTheServerNegotiated()
    {
        await using var server = TlsServer();
        await server.StartAsync(EchoHandler.Instance);

        var result = await RunAsync(server, "churn-full", 4);

        var operations = result.GetProperty("operations").GetInt64();
        Assert.True(operations > 0, $"no short connection was counted: {result}");
        Assert.Equal(0, result.GetProperty("errors").GetInt64());
        Assert.Equal(0, result.GetProperty("mismatches").GetInt64());
        Assert.Equal(0, result.GetProperty("resumed").GetInt64()); // no session cache: never a ticket offered
        Assert.True(server.AcceptedConnections >= operations);
        Assert.Equal("TLS 1.3", result.GetProperty("tlsVersion").GetString());
        Assert.Equal("TLS_AES_256_GCM_SHA384", result.GetProperty("cipherSuite").GetString());
        Assert.Equal("X25519", result.GetProperty("keyExchange").GetString());
        Assert.False(result.GetProperty("helloRetryRequest").GetBoolean());
        Assert.Equal("ECDSA P-256", result.GetProperty("serverCertificateKey").GetString());
        Assert.True(result.GetProperty("serverCpuSeconds").GetDouble() > 0, "this process did the handshakes but was charged no CPU");
    }

    [Fact]
    public async Task ChurnResumedResumesEveryMeasuredConnection()
    {
        await using var server = TlsServer(TlsCipherPolicy.Aes128First);
        await server.StartAsync(EchoHandler.Instance);

        var result = await RunAsync(server, "churn-resumed", 4);

        var operations = result.GetProperty("operations").GetInt64();
        Assert.True(operations > 0, $"no short connection was counted: {result}");
        Assert.Equal(0, result.GetProperty("errors").GetInt64());
        Assert.True(result.GetProperty("probeResumed").GetBoolean(), $"the second probe connection was not resumed: {result}");
        Assert.Equal(operations, result.GetProperty("resumed").GetInt64());
        Assert.Equal("TLS_AES_128_GCM_SHA256", result.GetProperty("cipherSuite").GetString());
    }

    [Fact]
    public async Task EchoCountsRoundTripsOnHeldConnections()
    {
        await using var server = TlsServer();
        await server.StartAsync(EchoHandler.Instance);

        var result = await RunAsync(server, "echo", 10);

        Assert.True(result.GetProperty("operations").GetInt64() > 10, $"too few round trips: {result}");
        Assert.Equal(0, result.GetProperty("errors").GetInt64());
        Assert.Equal(0, result.GetProperty("mismatches").GetInt64());
        Assert.Equal(11, server.AcceptedConnections); // the probe and the ten held ones
    }

    [Fact]
    public async Task EchoCountsAWrongReplyAsAMismatch()
    {
        await using var server = TlsServer();
        await server.StartAsync(async connection =>
        {
            while (true)
            {
                var result = await connection.Input.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    if (segment.IsEmpty)
                    {
                        continue; // the end of the stream comes as one empty segment
                    }

                    var copy = segment.ToArray();
                    copy[0] ^= 1; // one flipped bit per read
                    await connection.Output.WriteAsync(copy);
                }

                connection.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        });

        var result = await RunAsync(server, "echo", 2);

        Assert.True(result.GetProperty("mismatches").GetInt64() > 0, $"a corrupted echo went unnoticed: {result}");
    }
}
