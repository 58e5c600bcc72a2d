using System.Net;
using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Scale;

public class AcceptorTests
{
    private const int Clients = 200;

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 2)]
    [InlineData(2, 1)]
    [InlineData(2, 2)]
    public async Task SecondServerOnTheSamePortFailsNamingThePort(int firstAcceptors, int secondAcceptors)
    {
        await using var first = new TcpServer(new TcpServerOptions { AcceptorCount = firstAcceptors });
        await first.StartAsync(EchoHandler.Instance);
        var port = first.LocalEndPoint!.Port;

        await using var second = new TcpServer(new TcpServerOptions { AcceptorCount = secondAcceptors, EndPoint = new(IPAddress.Loopback, port) });
        var error = await Assert.ThrowsAsync<IOException>(() => second.StartAsync(EchoHandler.Instance));

        Assert.Contains($"cannot listen on 127.0.0.1:{port}: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("already in use", error.Message, StringComparison.Ordinal);
        Assert.Equal(ServerState.Created, second.State);
        await AssertEchoesAsync(first.LocalEndPoint); // the first server is untouched
    }

    [Fact]
    public async Task SharingServerDoesNotJoinAServerThatDoesNotShare()
    {
        using var exclusive = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        exclusive.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        exclusive.Listen();
        var port = ((IPEndPoint)exclusive.LocalEndPoint!).Port;

        await using var server = new TcpServer(new TcpServerOptions { SharePort = true, AcceptorCount = 2, EndPoint = new(IPAddress.Loopback, port) });
        var error = await Assert.ThrowsAsync<IOException>(() => server.StartAsync(EchoHandler.Instance));

        Assert.Contains($"port {port}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoAcceptorsBothReceiveConnectionsUnderLoad()
    {
        await using var server = new TcpServer(new TcpServerOptions { AcceptorCount = 2 });
        await server.StartAsync(EchoHandler.Instance);
        Assert.Equal(2, server.AcceptorCount);

        // The kernel picks the listener by a hash of the client's port: with 200 clients connecting
        // at once, one listener getting them all has odds of 2^-199.
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(_ => AssertEchoesAsync(server.LocalEndPoint!)));

        var perAcceptor = server.AcceptedByAcceptor();
        Assert.Equal(Clients, perAcceptor.Sum());
        Assert.All(perAcceptor, count => Assert.True(count > 0, $"an acceptor got no connection: [{string.Join(", ", perAcceptor)}]"));
    }

    [Fact]
    public async Task ServersThatSharePortSplitItsConnectionsAndTheSurvivorServesAloneAfterAStop()
    {
        var first = new TcpServer(new TcpServerOptions { SharePort = true, AcceptorCount = 1 });
        await first.StartAsync(EchoHandler.Instance);
        var endPoint = first.LocalEndPoint!;
        await using var second = new TcpServer(new TcpServerOptions { SharePort = true, AcceptorCount = 1, EndPoint = endPoint });
        await second.StartAsync(EchoHandler.Instance);

        await Task.WhenAll(Enumerable.Range(0, Clients).Select(_ => AssertEchoesAsync(endPoint)));
        Assert.Equal(Clients, first.AcceptedConnections + second.AcceptedConnections);
        Assert.True(first.AcceptedConnections > 0 && second.AcceptedConnections > 0,
            $"first {first.AcceptedConnections}, second {second.AcceptedConnections}");

        await first.DisposeAsync();
        var before = second.AcceptedConnections;
        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => AssertEchoesAsync(endPoint)));
        Assert.Equal(before + 20, second.AcceptedConnections);
    }

    [Fact]
    public async Task PortZeroWithSeveralAcceptorsChoosesAPortNobodyHolds()
    {
        await using var first = new TcpServer(new TcpServerOptions { AcceptorCount = 2 });
        await first.StartAsync(EchoHandler.Instance);
        await using var second = new TcpServer(new TcpServerOptions { AcceptorCount = 2 });
        await second.StartAsync(EchoHandler.Instance);

        Assert.NotEqual(first.LocalEndPoint!.Port, second.LocalEndPoint!.Port);
    }

    [Fact]
    public void AcceptorCountOutOfRangeIsRefused()
    {
        var error = Assert.Throws<ArgumentException>(() => new TcpServer(new TcpServerOptions { AcceptorCount = 0 }));
        Assert.Contains(nameof(TcpServerOptions.AcceptorCount), error.Message, StringComparison.Ordinal);
    }

    private static async Task AssertEchoesAsync(EndPoint endPoint)
    {
        using var client = await Loopback.ConnectAsync(endPoint);
        var message = new byte[] { 1, 2, 3, 4 };
        await client.SendAllAsync(message);
        Assert.Equal(message, await client.ReceiveExactlyAsync(message.Length));
    }
}
