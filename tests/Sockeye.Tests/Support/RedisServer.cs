using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Sockeye.Tests.Samples;

namespace Sockeye.Tests.Support;

/// <summary>A real redis-server on a loopback port, with no persistence; killed on dispose. It can be
/// stopped and started again on the same port, as an outage and its end.</summary>
internal sealed class RedisServer : IDisposable
{
    private Process? _process;

    private RedisServer(int port) => Port = port;

    public int Port { get; }

    /// <summary>A redis-server on <paramref name="port"/> (a free one when null), listening when this returns.</summary>
    public static async Task<RedisServer> StartAsync(int? port = null)
    {
        var server = new RedisServer(port ?? Loopback.FreePort());
        await server.RestartAsync();
        return server;
    }

    /// <summary>Kills the server at once (its clients see their connections closed), as a crash would.</summary>
    public void Stop()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit(5000);
            }

            process.Dispose();
            _process = null;
        }
    }

    /// <summary>Starts the server (again) on <see cref="Port"/>, empty, listening when this returns.</summary>
    public async Task RestartAsync()
    {
        Stop();
        var info = new ProcessStartInfo(RedisFactAttribute.Tool("redis-server")!, $"--save \"\" --appendonly no --port {Port} --bind 127.0.0.1 --dir {Path.GetTempPath()}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(info)!;
        _process = process;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await Loopback.EventuallyAsync(async () =>
        {
            try
            {
                using var socket = await Loopback.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port));
                return true;
            }
            catch (SocketException)
            {
                return process.HasExited;
            }
        }, "redis-server listens");
        Assert.False(process.HasExited, $"redis-server exited at start on port {Port}");
    }

    public void Dispose() => Stop();
}
