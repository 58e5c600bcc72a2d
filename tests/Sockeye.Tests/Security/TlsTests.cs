using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Handlers;
using Sockeye.Security;
using Sockeye.Tests.Deadlines;
using Sockeye.Tests.Support;
using static Sockeye.Tests.Security.TestCertificates;

namespace Sockeye.Tests.Security;

/// <summary>TLS over real loopback sockets, with certificates the tests make themselves.</summary>
public sealed class TlsTests : IDisposable
{
    private static readonly X509Certificate2 Default = Create("default.test");
    private readonly string _directory = Directory.CreateTempSubdirectory("sockeye-tls-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static TcpServerOptions Options(Action<TlsOptions>? configure = null) => Options(inline: false, configure);

    // inline: the handshake starts on the accept thread (serve --tls-start-inline), as well as queued.
    private static TcpServerOptions Options(bool inline, Action<TlsOptions>? configure = null)
    {
        var tls = new TlsOptions { Certificate = TlsCertificate.FromCertificate(Default), ReloadOnFileChange = false };
        configure?.Invoke(tls);
        return new TcpServerOptions { Tls = tls, StartHandlersInline = inline, InlineCompletions = inline };
    }

    [Fact]
    public async Task EchoHandlerServesTlsClientsUnchanged()
    {
        await using var server = new TcpServer(Options());
        await server.StartAsync(EchoHandler.Instance);
        await using var client = await ConnectAsync(server.LocalEndPoint!);

        var payload = new byte[200_000];
        Random.Shared.NextBytes(payload);
        var sending = client.SendAsync(payload);
        var echoed = await client.ReceiveExactlyAsync(payload.Length);
        await sending;

        Assert.Equal(payload, echoed);
        Assert.Equal(Default.Thumbprint, client.ServerCertificate.Thumbprint);
        Assert.True(client.Stream.SslProtocol is SslProtocols.Tls12 or SslProtocols.Tls13, $"negotiated {client.Stream.SslProtocol}");
    }

    [Fact]
    public async Task HandlerSeesTheNegotiatedProtocolAlpnAndServerName()
    {
        var info = new TaskCompletionSource<TlsConnectionInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(Options(t => t.ApplicationProtocols.Add(new SslApplicationProtocol("sockeye/1"))));
        await server.StartAsync(c =>
        {
            info.TrySetResult(c.GetTlsInfo());
            return Task.CompletedTask;
        });
        await using var client = await ConnectAsync(server.LocalEndPoint!, "app.test", alpn: [new SslApplicationProtocol("sockeye/1")]);

        var seen = await info.Task.WaitAsync(Loopback.Patience);
        Assert.NotNull(seen);
        Assert.Equal("sockeye/1", seen.ApplicationProtocol.ToString());
        Assert.Equal("app.test", seen.ServerName);
        Assert.Equal(client.Stream.SslProtocol, seen.Protocol);
    }

    [Fact]
    public async Task TlsOneOneIsRefusedByDefault()
    {
        await using var server = new TcpServer(Options());
        await server.StartAsync(EchoHandler.Instance);

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.LocalEndPoint!).WaitAsync(Loopback.Patience);
        await using var stream = new SslStream(new NetworkStream(socket));
#pragma warning disable SYSLIB0039, CA5397, CA5359 // TLS 1.1 on purpose: the server must refuse it
        var old = new SslClientAuthenticationOptions { TargetHost = "x", EnabledSslProtocols = SslProtocols.Tls11, RemoteCertificateValidationCallback = (_, _, _, _) => true };
#pragma warning restore SYSLIB0039, CA5397, CA5359
        await Assert.ThrowsAnyAsync<Exception>(() => stream.AuthenticateAsClientAsync(old).WaitAsync(Loopback.Patience));
        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.TlsHandshakeFailed) == 1, "the failed handshake was counted");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task BytesThatAreNotTlsFailTheHandshakeAndAreCounted(bool inline)
    {
        await using var server = new TcpServer(Options(inline));
        await server.StartAsync(EchoHandler.Instance);
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);

        await client.SendAllAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());

        Assert.NotEqual(SocketError.TimedOut, await client.ReceiveEndAsync());
        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.TlsHandshakeFailed) == 1, "the failed handshake was counted");
        Assert.Equal(0, server.HandlerErrors);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PlainTcpClientThatSendsNothingIsDroppedAtTheHandshakeTimeoutAndNotBefore(bool inline)
    {
        var clock = new FakeTimeProvider();
        var options = Options(inline, t => t.HandshakeTimeout = TimeSpan.FromSeconds(5));
        options.TimeProvider = clock;
        options.TimeoutResolution = TimeSpan.FromMilliseconds(100);
        await using var server = new TcpServer(options);
        await server.StartAsync(EchoHandler.Instance);
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 1, "the connection was accepted");
        await Task.Delay(100); // let the handshake post its first read before the clock moves

        clock.Advance(TimeSpan.FromSeconds(4.8));
        Assert.Equal(0, server.GetRefusalCount(RefusalReason.TlsHandshakeTimeout));
        Assert.Equal(1, server.ActiveConnections);

        clock.Advance(TimeSpan.FromSeconds(0.3));
        Assert.Equal(SocketError.ConnectionReset, await client.ReceiveEndAsync());
        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.TlsHandshakeTimeout) == 1, "the timeout was counted");
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "the slot was released");
    }

    [Fact]
    public async Task ServerNamePicksItsCertificateAndUnknownNamesGetTheDefault()
    {
        var alpha = Create("alpha.test");
        var beta = Create("beta.test");
        var wild = Create("*.wild.test");
        await using var server = new TcpServer(Options(t =>
        {
            t.ServerCertificates["alpha.test"] = TlsCertificate.FromCertificate(alpha);
            t.ServerCertificates["BETA.test"] = TlsCertificate.FromCertificate(beta);
            t.ServerCertificates["*.wild.test"] = TlsCertificate.FromCertificate(wild);
        }));
        await server.StartAsync(EchoHandler.Instance);

        async Task<string> Served(string name)
        {
            await using var client = await ConnectAsync(server.LocalEndPoint!, name);
            return client.ServerCertificate.Thumbprint;
        }

        Assert.Equal(alpha.Thumbprint, await Served("alpha.test"));
        Assert.Equal(beta.Thumbprint, await Served("beta.test"));
        Assert.Equal(wild.Thumbprint, await Served("api.wild.test"));
        Assert.Equal(Default.Thumbprint, await Served("deep.api.wild.test"));
        Assert.Equal(Default.Thumbprint, await Served("other.test"));
    }

    [Fact]
    public async Task UnknownServerNameWithoutDefaultCertificateIsRefusedAndCounted()
    {
        var alpha = Create("alpha.test");
        var tls = new TlsOptions { ReloadOnFileChange = false };
        tls.ServerCertificates["alpha.test"] = TlsCertificate.FromCertificate(alpha);
        await using var server = new TcpServer(new TcpServerOptions { Tls = tls });
        await server.StartAsync(EchoHandler.Instance);

        await using (var served = await ConnectAsync(server.LocalEndPoint!, "alpha.test"))
        {
            Assert.Equal(alpha.Thumbprint, served.ServerCertificate.Thumbprint);
        }

        await Assert.ThrowsAnyAsync<Exception>(() => ConnectAsync(server.LocalEndPoint!, "nobody.test"));
        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.TlsUnknownServerName) == 1, "the unknown name was counted");
    }

    [Fact]
    public async Task ReloadedCertificateIsServedToNewConnectionsWhileOpenOnesKeepTheirs()
    {
        var first = Create("first.test");
        var second = Create("second.test");
        var (certificatePath, keyPath) = WritePem(first, _directory, "server");
        var options = new TcpServerOptions { Tls = new TlsOptions { Certificate = TlsCertificate.FromPemFiles(certificatePath, keyPath), ReloadOnFileChange = false } };
        await using var server = new TcpServer(options);
        await server.StartAsync(EchoHandler.Instance);

        await using var open = await ConnectAsync(server.LocalEndPoint!);
        Assert.Equal(first.Thumbprint, open.ServerCertificate.Thumbprint);

        WritePem(second, _directory, "server");
        Assert.True(server.ReloadTlsCertificates());

        await using var fresh = await ConnectAsync(server.LocalEndPoint!);
        Assert.Equal(second.Thumbprint, fresh.ServerCertificate.Thumbprint);
        await open.SendAsync("still here"u8.ToArray());
        Assert.Equal("still here", Encoding.ASCII.GetString(await open.ReceiveExactlyAsync(10)));
    }

    [Fact]
    public async Task CertificateFileChangeIsPickedUpWithoutACall()
    {
        var first = Create("first.test");
        var second = Create("second.test");
        var (certificatePath, keyPath) = WritePem(first, _directory, "watched");
        var options = new TcpServerOptions { Tls = new TlsOptions { Certificate = TlsCertificate.FromPemFiles(certificatePath, keyPath) } };
        await using var server = new TcpServer(options);
        await server.StartAsync(EchoHandler.Instance);
        await using (var before = await ConnectAsync(server.LocalEndPoint!))
        {
            Assert.Equal(first.Thumbprint, before.ServerCertificate.Thumbprint);
        }

        WritePem(second, _directory, "watched");

        await Loopback.EventuallyAsync(
            async () =>
            {
                await using var client = await ConnectAsync(server.LocalEndPoint!);
                return client.ServerCertificate.Thumbprint == second.Thumbprint;
            },
            "the rewritten certificate is served",
            every: TimeSpan.FromMilliseconds(50));
    }

    [Fact]
    public async Task BrokenCertificateFileKeepsTheCurrentCertificate()
    {
        var first = Create("first.test");
        var (certificatePath, keyPath) = WritePem(first, _directory, "broken");
        var options = new TcpServerOptions { Tls = new TlsOptions { Certificate = TlsCertificate.FromPemFiles(certificatePath, keyPath), ReloadOnFileChange = false } };
        await using var server = new TcpServer(options);
        await server.StartAsync(EchoHandler.Instance);

        File.WriteAllText(certificatePath, "-----BEGIN CERTIFICATE-----\nnot base64\n");
        Assert.False(server.ReloadTlsCertificates());

        await using var client = await ConnectAsync(server.LocalEndPoint!);
        Assert.Equal(first.Thumbprint, client.ServerCertificate.Thumbprint);
    }

    [Fact]
    public async Task PfxFileWithPasswordIsLoaded()
    {
        var path = Path.Combine(_directory, "server.pfx");
        File.WriteAllBytes(path, Default.Export(X509ContentType.Pfx, "s3cret"));
        var options = new TcpServerOptions { Tls = new TlsOptions { Certificate = TlsCertificate.FromPfxFile(path, "s3cret"), ReloadOnFileChange = false } };
        await using var server = new TcpServer(options);
        await server.StartAsync(EchoHandler.Instance);

        await using var client = await ConnectAsync(server.LocalEndPoint!);
        Assert.Equal(Default.Thumbprint, client.ServerCertificate.Thumbprint);
    }

    [Fact]
    public void MissingCertificateFileFailsAtConstructionNamingTheFile()
    {
        var missing = Path.Combine(_directory, "missing.crt");
        var options = new TcpServerOptions { Tls = new TlsOptions { Certificate = TlsCertificate.FromPemFiles(missing, missing), ReloadOnFileChange = false } };
        var error = Assert.Throws<IOException>(() => new TcpServer(options));
        Assert.Contains("missing.crt", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequiredClientCertificateIsValidatedByTheCallback()
    {
        var good = Create("good-client");
        var bad = Create("bad-client");
        await using var server = new TcpServer(Options(t =>
        {
            t.ClientCertificateMode = ClientCertificateMode.Require;
            t.ClientCertificateValidation = (certificate, _, _) => certificate.Thumbprint == good.Thumbprint;
        }));
        var seen = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await server.StartAsync(c =>
        {
            seen.TrySetResult(c.GetTlsInfo()?.ClientCertificate?.Thumbprint);
            return Task.CompletedTask;
        });

        await using (var accepted = await ConnectAsync(server.LocalEndPoint!, clientCertificate: good))
        {
            Assert.Equal(good.Thumbprint, await seen.Task.WaitAsync(Loopback.Patience));
        }

        await ExpectRefusedAsync(() => ConnectAsync(server.LocalEndPoint!, clientCertificate: bad));
        await ExpectRefusedAsync(() => ConnectAsync(server.LocalEndPoint!));
        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.TlsClientCertificateRejected) == 2, "both rejections were counted");
    }

    [Fact]
    public async Task TricklingOneByteAtATimeOverTlsIsCutByTheReadTimeout()
    {
        var clock = new FakeTimeProvider();
        var options = Options();
        options.TimeProvider = clock;
        options.TimeoutResolution = TimeSpan.FromMilliseconds(100);
        options.ReadTimeout = TimeSpan.FromSeconds(5);
        var handler = new LineEchoHandler();
        await using var server = new TcpServer(options);
        await server.StartAsync(handler.HandleAsync);
        await using var client = await ConnectAsync(server.LocalEndPoint!);
        await handler.Connected.WaitAsync(Loopback.Patience);

        // Each byte is its own TLS record and restarts nothing: the handler is still in one read.
        for (var i = 0; i < 4; i++)
        {
            await client.SendAsync("x"u8.ToArray());
            await Loopback.EventuallyAsync(() => handler.All.Count == 1 && server.AcceptedConnections == 1, "the byte arrived");
            await Task.Delay(20);
            clock.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(0, server.TimedOutConnections);
        await client.SendAsync("x"u8.ToArray());
        clock.Advance(TimeSpan.FromSeconds(1.2));

        var ended = await handler.Ended.WaitAsync(Loopback.Patience);
        Assert.Equal(ConnectionTimeoutKind.Read, Assert.IsType<ConnectionTimeoutException>(ended).Kind);
        await client.WaitForEndAsync();
    }

    [Fact]
    public async Task IdleTlsConnectionsHoldNoPoolBlocks()
    {
        await using var server = new TcpServer(Options());
        await server.StartAsync(EchoHandler.Instance);
        var clients = new List<TlsClient>();
        try
        {
            foreach (var size in new[] { 1, 100, 5_000, 10_000, 40_000 })
            {
                for (var i = 0; i < 4; i++)
                {
                    var client = await ConnectAsync(server.LocalEndPoint!);
                    clients.Add(client);
                    var payload = new byte[size];
                    Random.Shared.NextBytes(payload);
                    await client.SendAsync(payload);
                    Assert.Equal(payload, await client.ReceiveExactlyAsync(size));
                }
            }

            var pool = server.MemoryPool;
            Assert.True(pool.BlocksAllocated > 0, "the echoes used pool blocks");
            await Loopback.EventuallyAsync(() => pool.BlocksAllocated - pool.FreeBlocks == 0,
                $"every block was given back by the {clients.Count} idle connections");
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task OpensslSClientCompletesAHandshakeAndAnEcho()
    {
        var openssl = new[] { "/usr/bin/openssl", "/usr/local/bin/openssl" }.FirstOrDefault(File.Exists);
        Assert.True(openssl is not null, "openssl is not installed: .ci/run installs it (apt-get install -y openssl)");
        var (certificatePath, keyPath) = WritePem(Create("localhost"), _directory, "openssl");
        var options = new TcpServerOptions { Tls = new TlsOptions { Certificate = TlsCertificate.FromPemFiles(certificatePath, keyPath), ReloadOnFileChange = false } };
        await using var server = new TcpServer(options);
        await server.StartAsync(EchoHandler.Instance);

        var start = new System.Diagnostics.ProcessStartInfo(openssl!, $"s_client -connect 127.0.0.1:{server.LocalEndPoint!.Port} -servername localhost -quiet -no_ign_eof")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        try
        {
            await process.StandardInput.WriteLineAsync("hello from openssl");
            await process.StandardInput.FlushAsync();
            using var timeout = new CancellationTokenSource(Loopback.Patience);
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            Assert.Equal("hello from openssl", line);
            process.StandardInput.Close(); // EOF: s_client sends close_notify and exits
            await process.WaitForExitAsync(timeout.Token);
            var stderr = await process.StandardError.ReadToEndAsync(timeout.Token);
            Assert.Contains("verify", stderr, StringComparison.OrdinalIgnoreCase); // it reported the (self-signed) chain
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    private static async Task ExpectRefusedAsync(Func<Task<TlsClient>> connect)
    {
        // With TLS 1.3 the client may finish before the server rejects its certificate: the refusal then
        // shows on the first read.
        try
        {
            await using var client = await connect();
            var buffer = new byte[1];
            using var timeout = new CancellationTokenSource(Loopback.Patience);
            await client.Stream.WriteAsync("x"u8.ToArray(), timeout.Token);
            var read = await client.Stream.ReadAsync(buffer, timeout.Token);
            Assert.Equal(0, read);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
        }
    }
}
