using System.Net.Sockets;
using System.Text;
using Sockeye.Dialing;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Unix;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class UnixSocketTests : IDisposable
{
    // Short on purpose: a socket path may hold at most 107 bytes.
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"sockeye-{Guid.NewGuid():N}"[..20] + ".sock");

    public void Dispose() => File.Delete(_path);

    [Fact]
    public async Task EchoesOverAUnixDomainSocketWithTheSameConnectionApi()
    {
        await using var server = new TcpServer(new TcpServerOptions { UnixSocketPath = _path });
        await server.StartAsync(EchoHandler.Instance);

        await using var client = await new Dialer().DialAsync(new UnixDomainSocketEndPoint(_path)).WaitAsync(Loopback.Patience);

        Assert.Equal(_path, server.ListenEndPoint?.ToString());
        Assert.Null(server.LocalEndPoint);
        Assert.Equal("over unix", await RoundTripAsync(client, "over unix"));
        Assert.Equal(1, server.AcceptedConnections);
    }

    [Theory]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite)]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite)]
    public async Task SocketFileHasTheConfiguredPermissions(UnixFileMode mode)
    {
        await using var server = new TcpServer(new TcpServerOptions { UnixSocketPath = _path, UnixSocketPermissions = mode });
        await server.StartAsync(EchoHandler.Instance);

        Assert.Equal(mode, File.GetUnixFileMode(_path));
    }

    [Fact]
    public async Task SocketFileIsRemovedOnStop()
    {
        var server = new TcpServer(new TcpServerOptions { UnixSocketPath = _path });
        await server.StartAsync(EchoHandler.Instance);
        Assert.True(File.Exists(_path));

        await server.StopAsync(TimeSpan.FromSeconds(5)).WaitAsync(Loopback.Patience);

        Assert.False(File.Exists(_path));
        await Assert.ThrowsAsync<ConnectionRefusedException>(() => new Dialer().DialAsync(new UnixDomainSocketEndPoint(_path)).WaitAsync(Loopback.Patience));
    }

    [Fact]
    public async Task StaleSocketFileFromACrashedRunIsReplaced()
    {
        // What a crash leaves: a socket file with nothing listening on it. (A socket bound but not
        // listening refuses connects just like a dead one; we keep it open until the end because .NET
        // unlinks the file when a bound socket is disposed, which a crashed process never does.)
        using var crashed = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        crashed.Bind(new UnixDomainSocketEndPoint(_path));
        Assert.True(File.Exists(_path));

        var server = new TcpServer(new TcpServerOptions { UnixSocketPath = _path });
        await server.StartAsync(EchoHandler.Instance);
        var client = await new Dialer().DialAsync(new UnixDomainSocketEndPoint(_path)).WaitAsync(Loopback.Patience);

        Assert.Equal("fresh", await RoundTripAsync(client, "fresh"));
        await client.DisposeAsync();
        await server.StopAsync(TimeSpan.FromSeconds(5)).WaitAsync(Loopback.Patience);
    }

    [Fact]
    public async Task RefusesToStartWhenAnotherServerIsListeningOnThePath()
    {
        await using var first = new TcpServer(new TcpServerOptions { UnixSocketPath = _path });
        await first.StartAsync(EchoHandler.Instance);

        await using var second = new TcpServer(new TcpServerOptions { UnixSocketPath = _path });
        var error = await Assert.ThrowsAsync<IOException>(() => second.StartAsync(EchoHandler.Instance));

        Assert.Contains("another server is listening", error.Message, StringComparison.Ordinal);
        Assert.Contains(_path, error.Message, StringComparison.Ordinal);
        await using var client = await new Dialer().DialAsync(new UnixDomainSocketEndPoint(_path)).WaitAsync(Loopback.Patience);
        Assert.Equal("still first", await RoundTripAsync(client, "still first"));
    }

    [Fact]
    public async Task RefusesToReplaceAFileThatIsNotASocket()
    {
        await File.WriteAllTextAsync(_path, "precious data");

        await using var server = new TcpServer(new TcpServerOptions { UnixSocketPath = _path });
        var error = await Assert.ThrowsAsync<IOException>(() => server.StartAsync(EchoHandler.Instance));

        Assert.Contains("not a socket", error.Message, StringComparison.Ordinal);
        Assert.Equal("precious data", await File.ReadAllTextAsync(_path));
    }

    [Fact]
    public void RejectsAPathLongerThanASocketAddressHolds()
    {
        var options = new TcpServerOptions { UnixSocketPath = "/tmp/" + new string('s', 120) };

        var error = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Equal(nameof(TcpServerOptions.UnixSocketPath), error.ParamName);
    }

    private static async Task<string> RoundTripAsync(Connection connection, string message)
    {
        await connection.Output.WriteAsync(Encoding.ASCII.GetBytes(message)).AsTask().WaitAsync(Loopback.Patience);
        return Encoding.ASCII.GetString(await connection.Input.ReceiveExactlyAsync(message.Length));
    }
}
