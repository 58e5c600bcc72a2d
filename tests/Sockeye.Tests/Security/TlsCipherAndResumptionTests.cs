using System.Diagnostics;
using System.Net.Security;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Sockeye.Handlers;
using Sockeye.Security;
using Sockeye.Security.Internal;
using Sockeye.Tests.Support;
using static Sockeye.Tests.Security.TestCertificates;

namespace Sockeye.Tests.Security;

/// <summary>TlsOptions.CipherPolicy and AllowSessionResumption: what a real client negotiates over
/// loopback, and whether a returning client (openssl s_client with a saved session) resumes.</summary>
public sealed class TlsCipherAndResumptionTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sockeye-tls-resume-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static async Task<TcpServer> StartAsync(Action<TlsOptions> configure, ILoggerFactory? logging = null)
    {
        var tls = new TlsOptions { Certificate = TlsCertificate.FromCertificate(Create("localhost")), ReloadOnFileChange = false };
        configure(tls);
        var server = new TcpServer(new TcpServerOptions { Tls = tls, LoggerFactory = logging });
        await server.StartAsync(EchoHandler.Instance);
        return server;
    }

    private static async Task<TlsCipherSuite> NegotiateAndEchoAsync(TcpServer server, SslProtocols protocols = SslProtocols.None)
    {
        await using var client = await ConnectAsync(server.LocalEndPoint!, protocols: protocols);
        await client.SendAsync("cipher"u8.ToArray());
        Assert.Equal("cipher"u8.ToArray(), await client.ReceiveExactlyAsync(6));
        return client.Stream.NegotiatedCipherSuite;
    }

    [Fact]
    public async Task DefaultPolicyNegotiatesOpenSslsFirstChoiceAes256Gcm()
    {
        await using var server = await StartAsync(_ => { });
        Assert.Equal(TlsCipherSuite.TLS_AES_256_GCM_SHA384, await NegotiateAndEchoAsync(server));
    }

    [Fact]
    public async Task Aes128FirstPolicyNegotiatesAes128GcmOverTls13AndTls12()
    {
        await using var server = await StartAsync(t => t.CipherPolicy = TlsCipherPolicy.Aes128First);
        Assert.Equal(TlsCipherSuite.TLS_AES_128_GCM_SHA256, await NegotiateAndEchoAsync(server));
        Assert.Equal(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, await NegotiateAndEchoAsync(server, SslProtocols.Tls12));
        Assert.Equal(TlsCipherSuite.TLS_AES_128_GCM_SHA256, await NegotiateAndEchoAsync(server, SslProtocols.Tls13));
    }

    [Fact]
    public async Task Aes128FirstPolicyIsSetOnTheSharedOpenSslContextWithoutFallingBack()
    {
        using var logging = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logging).SetMinimumLevel(LogLevel.Debug));
        await using var server = await StartAsync(t => t.CipherPolicy = TlsCipherPolicy.Aes128First, factory);
        await NegotiateAndEchoAsync(server);
        Assert.DoesNotContain(logging.Collector.GetSnapshot(), r => r.Id.Id == 1302);
    }

    [Fact]
    public async Task Aes128FirstPolicyHoldsWhenClientCertificatesAreRequired()
    {
        var clientCertificate = Create("client.test");
        await using var server = await StartAsync(t =>
        {
            t.CipherPolicy = TlsCipherPolicy.Aes128First;
            t.ClientCertificateMode = ClientCertificateMode.Require;
            t.ClientCertificateValidation = (_, _, _) => true;
        });
        await using var client = await ConnectAsync(server.LocalEndPoint!, clientCertificate: clientCertificate);
        await client.SendAsync("x"u8.ToArray());
        Assert.Equal("x"u8.ToArray(), await client.ReceiveExactlyAsync(1));
        Assert.Equal(TlsCipherSuite.TLS_AES_128_GCM_SHA256, client.Stream.NegotiatedCipherSuite);
    }

    [Fact]
    public async Task WhenOpenSslIsUnreachableThePolicyStillHoldsThroughDotNetsCipherSuitesPolicyAndEvent1302SaysWhy()
    {
        using var logging = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logging).SetMinimumLevel(LogLevel.Debug));
        await using var server = await StartAsync(t =>
        {
            t.CipherPolicy = TlsCipherPolicy.Aes128First;
            t.CipherOrder = new OpenSslCipherOrder("_noSuchField", "libssl.so");
        }, factory);

        Assert.Equal(TlsCipherSuite.TLS_AES_128_GCM_SHA256, await NegotiateAndEchoAsync(server));
        Assert.Equal(TlsCipherSuite.TLS_AES_128_GCM_SHA256, await NegotiateAndEchoAsync(server));
        var fallback = Assert.Single(logging.Collector.GetSnapshot(), r => r.Id.Id == 1302);
        Assert.Contains("_noSuchField", fallback.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(TlsCipherPolicy.Default, "TLS_AES_256_GCM_SHA384")]
    [InlineData(TlsCipherPolicy.Aes128First, "TLS_AES_128_GCM_SHA256")]
    public async Task ReturningOpensslClientResumesItsSessionByDefault(TlsCipherPolicy policy, string cipher)
    {
        await using var server = await StartAsync(t => t.CipherPolicy = policy);
        var session = Path.Combine(_directory, "session.pem");

        var first = await OpensslEchoAsync(server, $"-sess_out {session}");
        Assert.Contains($"New, TLSv1.3, Cipher is {cipher}", first, StringComparison.Ordinal);
        Assert.True(File.Exists(session), "s_client saved the session it was given");

        var second = await OpensslEchoAsync(server, $"-sess_in {session}");
        Assert.Contains($"Reused, TLSv1.3, Cipher is {cipher}", second, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResumptionTurnedOffGivesAReturningClientAFullHandshake()
    {
        await using var server = await StartAsync(t => t.AllowSessionResumption = false);
        var session = Path.Combine(_directory, "session.pem");
        await OpensslEchoAsync(server, $"-sess_out {session}");

        // s_client writes the file only when it got a session (ticket) to save; without one there is nothing to offer.
        var second = await OpensslEchoAsync(server, File.Exists(session) ? $"-sess_in {session}" : "");
        Assert.Contains("New, TLSv1.3", second, StringComparison.Ordinal);
        Assert.DoesNotContain("Reused,", second, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(TlsCipherPolicy.Default)]
    [InlineData(TlsCipherPolicy.Aes128First)]
    public async Task ServerSendsOneSessionTicketPerHandshakeAsGoDoesNotOpenSslsTwo(TlsCipherPolicy policy)
    {
        using var logging = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logging).SetMinimumLevel(LogLevel.Debug));
        await using var server = await StartAsync(t => t.CipherPolicy = policy, factory);
        var session = Path.Combine(_directory, "session.pem");

        var first = await OpensslEchoAsync(server, $"-sess_out {session}");
        Assert.Equal(1, Tickets(first));

        // The one ticket resumes, and the resumed handshake issues one again.
        var second = await OpensslEchoAsync(server, $"-sess_in {session}");
        Assert.Contains("Reused, TLSv1.3", second, StringComparison.Ordinal);
        Assert.Equal(1, Tickets(second));
        Assert.DoesNotContain(logging.Collector.GetSnapshot(), r => r.Id.Id is 1302 or 1303);
    }

    [Fact]
    public async Task WhenOpenSslIsUnreachableTheDefaultPolicyKeepsOpenSslsTwoTicketsAndEvent1303SaysWhy()
    {
        using var logging = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logging).SetMinimumLevel(LogLevel.Debug));
        await using var server = await StartAsync(t => t.CipherOrder = new OpenSslCipherOrder("_noSuchField", "libssl.so"), factory);
        var session = Path.Combine(_directory, "session.pem");

        var first = await OpensslEchoAsync(server, $"-sess_out {session}");
        Assert.Equal(2, Tickets(first));
        Assert.Contains("Reused, TLSv1.3", await OpensslEchoAsync(server, $"-sess_in {session}"), StringComparison.Ordinal);
        var unchanged = Assert.Single(logging.Collector.GetSnapshot(), r => r.Id.Id == 1303);
        Assert.Contains("_noSuchField", unchanged.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(logging.Collector.GetSnapshot(), r => r.Id.Id == 1302); // the cipher order was never asked for
    }

    [Fact]
    public async Task ResumptionTurnedOffLeavesTheContextAloneAndNeedsNoInProcessHandshake()
    {
        using var logging = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logging).SetMinimumLevel(LogLevel.Debug));
        await using var server = await StartAsync(t =>
        {
            t.AllowSessionResumption = false;
            t.CipherOrder = new OpenSslCipherOrder("_noSuchField", "libssl.so"); // would log 1303 if it were used
        }, factory);

        // .NET still sends OpenSSL's two tickets then, though each handshake has a context (and ticket key)
        // of its own, so none can ever resume: recorded here so a runtime that stops doing it is noticed.
        Assert.Equal(2, Tickets(await OpensslEchoAsync(server, "")));
        Assert.DoesNotContain(logging.Collector.GetSnapshot(), r => r.Id.Id is 1302 or 1303);
    }

    [Fact]
    public async Task TheTunedContextSurvivesDotNetsContextCacheCleanup()
    {
        // .NET's SSL_CTX cache drops every context not in use whenever it reaches a multiple of 32 entries;
        // an idle listener's tuned context must not be among them, or the next handshake would get a fresh
        // one with AES-256 first and two tickets.
        await using var server = await StartAsync(t => t.CipherPolicy = TlsCipherPolicy.Aes128First);
        Assert.Equal(TlsCipherSuite.TLS_AES_128_GCM_SHA256, await NegotiateAndEchoAsync(server));
        for (var i = 0; i < 34; i++)
        {
            await using var other = await StartAsync(_ => { }); // a context of its own, idle once disposed
        }

        Assert.Equal(TlsCipherSuite.TLS_AES_128_GCM_SHA256, await NegotiateAndEchoAsync(server));
        Assert.Equal(1, Tickets(await OpensslEchoAsync(server, "")));
    }

    /// <summary>How many TLS 1.3 NewSessionTicket messages s_client reported.</summary>
    private static int Tickets(string output) =>
        output.Split('\n').Count(line => line.Contains("Post-Handshake New Session Ticket arrived", StringComparison.Ordinal));

    /// <summary>One openssl s_client connection that echoes a line; returns everything it printed.</summary>
    private static async Task<string> OpensslEchoAsync(TcpServer server, string sessionArguments)
    {
        var openssl = new[] { "/usr/bin/openssl", "/usr/local/bin/openssl" }.FirstOrDefault(File.Exists);
        Assert.True(openssl is not null, "openssl is not installed: .ci/run installs it (apt-get install -y openssl)");
        var start = new ProcessStartInfo(openssl!, $"s_client -connect 127.0.0.1:{server.LocalEndPoint!.Port} -servername localhost -tls1_3 {sessionArguments}")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(Loopback.Patience);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.StandardInput.WriteLineAsync("resume-probe");
            await process.StandardInput.FlushAsync();
            var output = new System.Text.StringBuilder();
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                output.AppendLine(line);
                if (line == "resume-probe")
                {
                    break; // echoed: the tickets, sent before it, were read too
                }
            }

            process.StandardInput.Close();
            output.Append(await process.StandardOutput.ReadToEndAsync(timeout.Token));
            await process.WaitForExitAsync(timeout.Token);
            var text = output.ToString();
            Assert.True(text.Contains("resume-probe", StringComparison.Ordinal), $"s_client got no echo; stderr: {await stderr}\n{text}");
            return text;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }
}
