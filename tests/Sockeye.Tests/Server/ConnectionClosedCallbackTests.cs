using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Server;

/// <summary>A callback on <see cref="Connection.ConnectionClosed"/> is the handler's code: one that throws
/// must not end the process (it ran on a thread-pool item, where an escaping exception does).</summary>
public sealed class ConnectionClosedCallbackTests
{
    [Fact]
    public async Task AThrowingClosedCallbackIsLoggedTheOthersRunAndTheServerGoesOnServing()
    {
        using var logs = new FakeLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        var othersRan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = true;
        await using var server = new TcpServer(new TcpServerOptions { LoggerFactory = loggerFactory });
        await server.StartAsync(async connection =>
        {
            if (!Interlocked.Exchange(ref first, false))
            {
                await EchoHandler.Instance.HandleAsync(connection);
                return;
            }

            connection.ConnectionClosed.Register(() => throw new InvalidOperationException("a buggy callback"));
            connection.ConnectionClosed.Register(() => othersRan.TrySetResult());
            while (true)
            {
                var read = await connection.Input.ReadAsync();
                connection.Input.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    return;
                }
            }
        });

        using (var client = await Loopback.ConnectAsync(server.LocalEndPoint!))
        {
            await client.SendAllAsync("bye"u8.ToArray());
            client.Shutdown(SocketShutdown.Send);
            Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
        }

        await othersRan.Task.WaitAsync(Loopback.Patience);
        await Loopback.EventuallyAsync(() => logs.Collector.GetSnapshot().Any(r => r.Id.Id == 861 && r.Exception is InvalidOperationException), "the throwing callback to be logged");

        // Still alive and serving.
        using var next = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await next.SendAllAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await next.ReceiveExactlyAsync(4));
    }
}
