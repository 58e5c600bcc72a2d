using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Security;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Security;

/// <summary>PROXY protocol on a real listener: headers built by the tests and sent by a real HAProxy.</summary>
public sealed class ProxyProtocolTests
{
    private static readonly IPEndPoint Client = new(IPAddress.Parse("203.0.113.7"), 51000);
    private static readonly IPEndPoint Destination = new(IPAddress.Parse("198.51.100.1"), 443);

    /// <summary>Replies with the client address it sees and the header's version, then echoes.</summary>
    internal static async Task ReportClientAsync(Connection connection)
    {
        var info = connection.GetProxyProtocolInfo();
        var line = $"{connection.RemoteEndPoint} v{info?.Version} {info?.DestinationEndPoint} {info?.Authority}\n";
        await connection.Output.WriteAsync(Encoding.ASCII.GetBytes(line));
        while (true)
        {
            var result = await connection.Input.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                await connection.Output.WriteAsync(segment);
            }

            connection.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    internal static TcpServerOptions Options(string trusted = "127.0.0.0/8")
    {
        var proxy = new ProxyProtocolOptions();
        proxy.TrustedProxies.Add(IPNetwork.Parse(trusted));
        return new TcpServerOptions { ProxyProtocol = proxy };
    }

    internal static async Task<string> ReadLineAsync(Socket socket)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        while (true)
        {
            if (await socket.ReceiveAsync(one, SocketFlags.None, timeout.Token) == 0)
            {
                throw new EndOfStreamException($"closed after '{Encoding.ASCII.GetString([.. bytes])}'");
            }

            if (one[0] == '\n')
            {
                return Encoding.ASCII.GetString([.. bytes]);
            }

            bytes.Add(one[0]);
        }
    }

    [Fact]
    public async Task V1HeaderMakesTheOriginalClientTheRemoteEndPoint()
    {
        await using var server = new TcpServer(Options());
        await server.StartAsync(ReportClientAsync);
        using var socket = await Loopback.ConnectAsync(server.LocalEndPoint!);

        await socket.SendAllAsync(ProxyHeaders.V1(Client, Destination).Concat("ping"u8.ToArray()).ToArray());

        Assert.Equal($"{Client} v1 {Destination} ", await ReadLineAsync(socket));
        Assert.Equal("ping", Encoding.ASCII.GetString(await socket.ReceiveExactlyAsync(4)));
    }

    [Fact]
    public async Task V2HeaderSentOneByteAtATimeExposesClientAndTlvs()
    {
        await using var server = new TcpServer(Options());
        await server.StartAsync(ReportClientAsync);
        using var socket = await Loopback.ConnectAsync(server.LocalEndPoint!);

        foreach (var b in ProxyHeaders.V2(Client, Destination, false, (ProxyTlv.Authority, "api.example.com"u8.ToArray())))
        {
            await socket.SendAllAsync(new[] { b });
        }

        Assert.Equal($"{Client} v2 {Destination} api.example.com", await ReadLineAsync(socket));
    }

    [Fact]
    public async Task ConnectionFromOutsideTheTrustedProxiesIsRefused()
    {
        await using var server = new TcpServer(Options(trusted: "127.0.0.2/32"));
        await server.StartAsync(ReportClientAsync);

        Assert.Equal(SocketError.ConnectionReset, await Loopback.ConnectAndReceiveEndAsync(server.LocalEndPoint!, IPAddress.Parse("127.0.0.3")));
        Assert.Equal(1, server.GetRefusalCount(RefusalReason.UntrustedProxy));

        using var trusted = await Loopback.ConnectAsync(server.LocalEndPoint!, IPAddress.Parse("127.0.0.2"));
        await trusted.SendAllAsync(ProxyHeaders.V1(Client, Destination));
        Assert.StartsWith(Client.ToString(), await ReadLineAsync(trusted), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("truncated v2")]
    [InlineData("truncated v1")]
    [InlineData("oversize v2")]
    public async Task BrokenHeaderClosesTheConnectionWithoutRunningTheHandler(string kind)
    {
        var handled = 0;
        await using var server = new TcpServer(Options());
        await server.StartAsync(c =>
        {
            Interlocked.Increment(ref handled);
            return Task.CompletedTask;
        });
        using var socket = await Loopback.ConnectAsync(server.LocalEndPoint!);
        var v2 = ProxyHeaders.V2(Client, Destination);
        var oversize = (byte[])v2.Clone();
        oversize[14] = 0x20; // declares 8,192 bytes of addresses and TLVs

        byte[] bytes = kind switch
        {
            "garbage" => "SSH-2.0-OpenSSH_9.2\r\n"u8.ToArray(),
            "truncated v2" => v2[..20],
            "truncated v1" => "PROXY TCP4 203.0.113.7 "u8.ToArray(),
            _ => oversize,
        };
        await socket.SendAllAsync(bytes);
        if (kind.StartsWith("truncated", StringComparison.Ordinal))
        {
            socket.Shutdown(SocketShutdown.Send); // the header never completes: FIN
        }

        Assert.NotEqual(SocketError.TimedOut, await socket.ReceiveEndAsync());
        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.ProxyHeaderInvalid) == 1, "the broken header was counted");
        Assert.Equal(0, handled);
        Assert.Equal(0, server.HandlerErrors);
    }

    [Fact]
    public async Task MissingHeaderIsDroppedAtTheHeaderTimeout()
    {
        var clock = new FakeTimeProvider();
        var options = Options();
        options.ProxyProtocol!.HeaderTimeout = TimeSpan.FromSeconds(2);
        options.TimeProvider = clock;
        options.TimeoutResolution = TimeSpan.FromMilliseconds(100);
        await using var server = new TcpServer(options);
        await server.StartAsync(ReportClientAsync);
        using var socket = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 1, "the connection was accepted");
        await Task.Delay(100); // let the header read begin before the clock moves

        clock.Advance(TimeSpan.FromSeconds(1.8));
        Assert.Equal(0, server.GetRefusalCount(RefusalReason.ProxyHeaderTimeout));

        clock.Advance(TimeSpan.FromSeconds(0.3));
        Assert.Equal(SocketError.ConnectionReset, await socket.ReceiveEndAsync());
        await Loopback.EventuallyAsync(() => server.GetRefusalCount(RefusalReason.ProxyHeaderTimeout) == 1, "the timeout was counted");
    }

    [Theory]
    [InlineData("send-proxy-v2")]
    [InlineData("send-proxy-v2 proxy-v2-options crc32c")]
    public async Task HaproxySendProxyV2GivesTheHandlerTheOriginalClient(string serverOptions)
    {
        var haproxy = FindHaproxy();
        var received = new TaskCompletionSource<ProxyProtocolInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(Options());
        await server.StartAsync(connection =>
        {
            received.TrySetResult(connection.GetProxyProtocolInfo());
            return ReportClientAsync(connection);
        });
        var frontend = Loopback.FreePort();
        var config = Path.Combine(Path.GetTempPath(), $"sockeye-haproxy-{Environment.ProcessId}-{frontend}.cfg");
        File.WriteAllText(config, $"""
            global
                maxconn 64
            defaults
                mode tcp
                timeout connect 5s
                timeout client 30s
                timeout server 30s
            frontend fe
                bind 127.0.0.1:{frontend}
                default_backend be
            backend be
                server sockeye 127.0.0.1:{server.LocalEndPoint!.Port} {serverOptions}

            """);
        using var process = Process.Start(new ProcessStartInfo(haproxy, $"-db -f {config}") { RedirectStandardError = true, RedirectStandardOutput = true })!;
        try
        {
            var source = IPAddress.Parse("127.0.0.5");
            Socket? client = null;
            await Loopback.EventuallyAsync(() =>
            {
                client?.Dispose();
                client = null;
                if (process.HasExited)
                {
                    Assert.Fail($"haproxy exited with {process.ExitCode}: {process.StandardError.ReadToEnd()} {process.StandardOutput.ReadToEnd()}");
                }

                try
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    socket.Bind(new IPEndPoint(source, 0));
                    socket.Connect(new IPEndPoint(IPAddress.Loopback, frontend));
                    client = socket;
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            }, "haproxy accepted a connection");

            using (client)
            {
                var line = await ReadLineAsync(client!);
                Assert.Equal($"{client!.LocalEndPoint} v2 127.0.0.1:{frontend} ", line);
                await client.SendAllAsync("through haproxy"u8.ToArray());
                Assert.Equal("through haproxy", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(15)));
            }

            // With crc32c, HAProxy signed the header and the parser checked it (a mismatch is refused above).
            var info = await received.Task.WaitAsync(Loopback.Patience);
            Assert.Equal(serverOptions.Contains("crc32c", StringComparison.Ordinal), info!.Find(ProxyTlv.Crc32c) is { Value.Length: 4 });
            Assert.Equal(0, server.RefusedConnections);
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync().WaitAsync(Loopback.Patience);
            File.Delete(config);
        }
    }

    private static string FindHaproxy()
    {
        foreach (var path in new[] { "/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy" })
        {
            if (File.Exists(path))
            {
                return path;
            }
        }

        Assert.Fail("haproxy is not installed: .ci/run installs it (apt-get install -y haproxy); install it the same way to run this test");
        return "";
    }
}
