using System.Text;
using Sockeye.Fanout;
using Sockeye.Security;
using Sockeye.Tests.Security;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Fanout;

/// <summary>Fan-out over TLS: the plaintext is shared, each member encrypts its own copy.</summary>
public sealed class TlsFanoutTests
{
    private static readonly System.Security.Cryptography.X509Certificates.X509Certificate2 Certificate = TestCertificates.Create("fanout.test");

    [Fact]
    public async Task BroadcastsAndTheHandlersOwnWritesReachTlsMembersWholeAndInOrder()
    {
        const int Members = 20, Messages = 300, HandlerLines = 50;
        var handlerLine = new string('H', 9_000); // over two pool blocks: one flush, never split by a queued message
        await using var fixture = await FanoutServer.StartAsync(
            o => o.Tls = new TlsOptions { Certificate = TlsCertificate.FromCertificate(Certificate), ReloadOnFileChange = false },
            afterJoin: async connection =>
            {
                for (var i = 0; i < HandlerLines; i++)
                {
                    await connection.Output.WriteAsync(Encoding.ASCII.GetBytes(handlerLine + "\n"));
                }

                var result = await connection.Input.ReadAsync();
                while (!result.IsCompleted)
                {
                    connection.Input.AdvanceTo(result.Buffer.End);
                    result = await connection.Input.ReadAsync();
                }
            });
        var clients = new List<TlsClient>();
        for (var i = 0; i < Members; i++)
        {
            clients.Add(await TestCertificates.ConnectAsync(fixture.Server.LocalEndPoint!, "fanout.test"));
        }

        await Loopback.EventuallyAsync(() => fixture.Group.Count == Members, "every TLS member joined");
        var readers = clients.Select(c => Task.Run(async () =>
        {
            using var reader = new StreamReader(c.Stream, Encoding.ASCII, leaveOpen: true);
            using var timeout = new CancellationTokenSource(Loopback.Patience);
            var lines = new List<string>();
            while (lines.Count < Messages + HandlerLines)
            {
                lines.Add(await reader.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException($"closed after {lines.Count} lines"));
            }

            return lines;
        })).ToArray();

        for (var i = 0; i < Messages; i++)
        {
            Assert.Equal(new BroadcastResult(Members, 0), fixture.Group.Broadcast(Encoding.ASCII.GetBytes($"M{i}\n")));
        }

        foreach (var lines in await Task.WhenAll(readers))
        {
            Assert.Equal(HandlerLines, lines.Count(l => l == handlerLine));
            Assert.Equal(Enumerable.Range(0, Messages).Select(i => $"M{i}"), lines.Where(l => l.StartsWith('M')));
        }

        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        await Loopback.EventuallyAsync(() => fixture.Group.Count == 0, "closed TLS members left the group");
    }
}
