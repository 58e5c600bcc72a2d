using System.Diagnostics;
using System.Net;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Bench;

/// <summary>
/// bench/peers/go-chat, built from the repository with <c>go build</c> (<see cref="GoPrograms"/>) and
/// run on a loopback port the kernel chooses; killed when disposed.
/// </summary>
internal sealed class GoChatPeer : IAsyncDisposable
{
    private readonly Process _process;

    private GoChatPeer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public int ProcessId => _process.Id;

    public static async Task<GoChatPeer> StartAsync()
    {
        var binary = await GoPrograms.BuildAsync("go-chat");
        var run = new ProcessStartInfo(binary, ["-port", "0"]) { RedirectStandardOutput = true };
        var process = Process.Start(run)!;
        try
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(Loopback.Patience);
            Assert.True(line is not null && line.StartsWith("listening on ", StringComparison.Ordinal), $"go-chat printed '{line}' instead of its listening line");
            return new GoChatPeer(process, IPEndPoint.Parse(line["listening on ".Length..]).Port);
        }
        catch
        {
            process.Kill();
            process.Dispose();
            throw;
        }
        finally
        {
            File.Delete(binary); // The running process keeps its image; nothing is left behind.
        }
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync().WaitAsync(Loopback.Patience);
        _process.Dispose();
    }
}
