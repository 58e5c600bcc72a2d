using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Sockeye.Handlers;
using Sockeye.Security;
using Sockeye.Tests.Support;
using static Sockeye.Tests.Security.TestCertificates;

namespace Sockeye.Tests.Security;

/// <summary>The handshake's last flight (the TLS 1.3 session ticket) is held back to travel with the
/// handler's first write, and still reaches a client whose handler never writes; and TLS handshakes
/// started on the accept thread (<see cref="TcpServerOptions.StartHandlersInline"/>) keep the cap on pending
/// handshakes (TlsTests runs its refusal and timeout cases both ways).</summary>
public sealed class TlsTicketFlightTests
{
    private static TcpServerOptions Options(bool inline, Action<TlsOptions>? configure = null)
    {
        var tls = new TlsOptions { Certificate = TlsCertificate.FromCertificate(Create("localhost")), ReloadOnFileChange = false };
        configure?.Invoke(tls);
        return new TcpServerOptions { Tls = tls, StartHandlersInline = inline, InlineCompletions = inline };
    }

    /// <summary>A TLS 1.3 client over a socket the test can look under: after the handshake, bytes
    /// waiting in the kernel can only be what the server sent after its flight (the ticket).</summary>
    private static async Task<(Socket Socket, SslStream Stream)> HandshakeAsync(TcpServer server)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.LocalEndPoint!).WaitAsync(Loopback.Patience);
        var stream = new SslStream(new NetworkStream(socket, ownsSocket: true));
#pragma warning disable CA5359 // the tests' certificate is self-signed
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = SslProtocols.Tls13,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        };
#pragma warning restore CA5359
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        await stream.AuthenticateAsClientAsync(options, timeout.Token);
        return (socket, stream);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TicketArrivesWhenTheHandlerNeverReadsOrWrites(bool inline)
    {
        var handlerStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(Options(inline));
        await server.StartAsync(async c =>
        {
            handlerStarted.TrySetResult();
            await Task.Delay(Timeout.Infinite, c.ConnectionClosed).ContinueWith(_ => { }, TaskScheduler.Default);
        });

        var (socket, stream) = await HandshakeAsync(server);
        await using (stream)
        {
            await handlerStarted.Task.WaitAsync(Loopback.Patience);
            await Loopback.EventuallyAsync(() => socket.Available > 0, "the session ticket arrived although the handler never wrote");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TicketArrivesWhenTheHandlerOnlyReads(bool inline)
    {
        var read = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(Options(inline));
        await server.StartAsync(async c =>
        {
            var result = await c.Input.ReadAsync(c.ConnectionClosed);
            read.TrySetResult((int)result.Buffer.Length);
            c.Input.AdvanceTo(result.Buffer.End);
            await c.Input.ReadAsync(c.ConnectionClosed); // waits: never writes
        });

        var (socket, stream) = await HandshakeAsync(server);
        await using (stream)
        {
            await stream.WriteAsync("ping"u8.ToArray());
            Assert.Equal(4, await read.Task.WaitAsync(Loopback.Patience));
            await Loopback.EventuallyAsync(() => socket.Available > 0, "the session ticket arrived although the handler never wrote");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EchoAfterTheHeldTicketArrivesIntactOverTls13AndTls12(bool inline)
    {
        await using var server = new TcpServer(Options(inline));
        await server.StartAsync(EchoHandler.Instance);
        foreach (var protocols in new[] { SslProtocols.Tls13, SslProtocols.Tls12 })
        {
            for (var i = 0; i < 5; i++)
            {
                await using var client = await ConnectAsync(server.LocalEndPoint!, protocols: protocols);
                var payload = new byte[1 + (i * 7_000)];
                Random.Shared.NextBytes(payload);
                await client.SendAsync(payload);
                Assert.Equal(payload, await client.ReceiveExactlyAsync(payload.Length));
            }
        }
    }

    [Fact]
    public async Task HandshakesStartedInlineKeepTheCapOnPendingHandshakes()
    {
        await using var server = new TcpServer(Options(inline: true, t => t.MaxPendingHandshakes = 2));
        await server.StartAsync(EchoHandler.Instance);
        using var first = await Loopback.ConnectAsync(server.LocalEndPoint!);
        using var second = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await Loopback.EventuallyAsync(() => server.PendingTlsHandshakes == 2, "two handshakes wait for a ClientHello");

        Assert.Equal(SocketError.ConnectionReset, await Loopback.ConnectAndReceiveEndAsync(server.LocalEndPoint!));
        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.TlsHandshakesPending) == 1, "the refusal was counted");

        // A stalled client that leaves gives its place to a real client.
        first.Dispose();
        await Loopback.EventuallyAsync(() => server.PendingTlsHandshakes == 1, "the abandoned handshake gave its place back");
        await using var client = await ConnectAsync(server.LocalEndPoint!);
        await client.SendAsync("ok"u8.ToArray());
        Assert.Equal("ok"u8.ToArray(), await client.ReceiveExactlyAsync(2));
    }
}
