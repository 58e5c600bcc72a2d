using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Observability;

public class LoggingTests
{
    [Fact]
    public async Task RepeatedHandlerErrorsAreLoggedOncePerSecondWithTheCountHeldBack()
    {
        var clock = new FakeTimeProvider();
        using var log = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(log));
        await using var server = new TcpServer(new TcpServerOptions { LoggerFactory = factory, TimeProvider = clock });
        await server.StartAsync(_ => throw new InvalidOperationException("handler bug"));

        async Task FailOnceAsync(int expectedErrors)
        {
            try
            {
                // The reset of the aborted connection may come before the connect returns.
                using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
                await client.ReceiveEndAsync();
            }
            catch (System.Net.Sockets.SocketException)
            {
            }

            await Loopback.EventuallyAsync(() => server.HandlerErrors == expectedErrors, $"{expectedErrors} handler errors");
        }

        for (var i = 1; i <= 20; i++)
        {
            await FailOnceAsync(i);
        }

        clock.Advance(TimeSpan.FromSeconds(1));
        await FailOnceAsync(21);

        var failures = log.Collector.GetSnapshot().Where(e => e.Id.Id == 302).ToList();
        Assert.Equal(2, failures.Count);
        Assert.Contains("(0 similar errors not logged", failures[0].Message, StringComparison.Ordinal);
        Assert.Contains("(19 similar errors not logged", failures[1].Message, StringComparison.Ordinal);
        Assert.All(failures, f => Assert.Equal(LogLevel.Error, f.Level));
    }

    [Fact]
    public async Task ConnectionEndIsLoggedAtDebugWithItsIdAndHowItEnded()
    {
        using var log = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(log));
        await using var server = new TcpServer(new TcpServerOptions { LoggerFactory = factory });
        long id = 0;
        await server.StartAsync(async connection =>
        {
            id = connection.Id;
            while (!(await connection.Input.ReadAsync()).IsCompleted)
            {
                connection.Input.AdvanceTo(default(System.Buffers.ReadOnlySequence<byte>).End);
            }
        });

        using (var client = await Loopback.ConnectAsync(server.LocalEndPoint!))
        {
            client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            await client.ReceiveEndAsync();
        }

        await Loopback.EventuallyAsync(() => log.Collector.GetSnapshot().Any(e => e.Id.Id == 303), "the end of the connection to be logged");
        var ended = log.Collector.GetSnapshot().Single(e => e.Id.Id == 303);
        Assert.Equal(LogLevel.Debug, ended.Level);
        Assert.StartsWith($"Connection {id} ended (PeerClosed) after ", ended.Message, StringComparison.Ordinal);
        var accepted = log.Collector.GetSnapshot().Single(e => e.Id.Id == 300);
        Assert.StartsWith($"Connection {id} accepted from ", accepted.Message, StringComparison.Ordinal);
    }
}
