using System.Net;
using System.Net.Sockets;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Scale;

/// <summary>The short connections the restart tests keep making while workers are replaced: connect,
/// one 4-byte echo, close, paced; every failure (refused, reset, wrong bytes, no answer in 10 s) is kept.</summary>
internal static class RestartChurn
{
    public static async Task RunAsync(IPEndPoint endPoint, Action served, System.Collections.Concurrent.ConcurrentQueue<string> failures, CancellationToken stop)
    {
        var message = new byte[] { 1, 2, 3, 4 };
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var client = await Loopback.ConnectAsync(endPoint);
                await client.SendAllAsync(message);
                if (!(await client.ReceiveExactlyAsync(message.Length, TimeSpan.FromSeconds(10))).SequenceEqual(message))
                {
                    failures.Enqueue("wrong bytes echoed");
                }
                else
                {
                    served();
                }
            }
            catch (Exception ex) when (ex is SocketException or EndOfStreamException or TimeoutException)
            {
                failures.Enqueue(ex.Message);
            }

            // Paced, not a busy loop: other test assemblies run beside this one.
            await Task.Delay(2, CancellationToken.None);
        }
    }
}
