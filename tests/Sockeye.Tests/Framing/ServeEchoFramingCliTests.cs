using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Framing;

/// <summary><c>sockeye serve echo --framing ... --max-frame-size ...</c>, run as the real executable.</summary>
public class ServeEchoFramingCliTests
{
    [Theory]
    [InlineData("--framing", "xml", "--framing must be raw, line or length32, got 'xml'")]
    [InlineData("--max-frame-size", "0", "--max-frame-size must be between 1 byte and 2GiB, got 0")]
    [InlineData("--max-frame-size", "lots", "--max-frame-size: 'lots' is not a size")]
    public async Task BadFramingValuesAreRefusedWithOneLineNamingTheOption(string option, string value, string expected)
    {
        using var process = StartCli("serve", "echo", option, value);
        var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(Loopback.Patience);
        await process.WaitForExitAsync().WaitAsync(Loopback.Patience);

        Assert.Equal(2, process.ExitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Length32EchoesWholeFramesAndClosesAConnectionThatSendsAnOversizeOne()
    {
        using var process = StartCli("serve", "echo", "--port", "0", "--framing", "length32", "--max-frame-size", "16");
        try
        {
            var port = await ReadPortAsync(process);
            using var good = new TcpClient();
            await good.ConnectAsync(IPAddress.Loopback, port).WaitAsync(Loopback.Patience);
            byte[] frame = [0, 0, 0, 3, (byte)'a', (byte)'b', (byte)'c'];
            await good.GetStream().WriteAsync(frame);
            Assert.Equal(frame, await good.GetStream().ReceiveExactlyAsync(frame.Length));

            using var bad = new TcpClient();
            await bad.ConnectAsync(IPAddress.Loopback, port).WaitAsync(Loopback.Patience);
            await bad.GetStream().WriteAsync(new byte[] { 0, 0, 0, 17 });
            Assert.Equal(0L, (await bad.GetStream().ReceiveToEndAsync()).Received); // closed (FIN or RST) with no reply

            // The first connection is still served.
            await good.GetStream().WriteAsync(frame);
            Assert.Equal(frame, await good.GetStream().ReceiveExactlyAsync(frame.Length));
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync().WaitAsync(Loopback.Patience);
        }
    }

    private static Process StartCli(params string[] args)
    {
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Sockeye.Cli.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info)!;
    }

    private static async Task<int> ReadPortAsync(Process process)
    {
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(Loopback.Patience)
                ?? throw new InvalidOperationException("the server exited before listening");
            const string Prefix = "sockeye: listening on ";
            if (line.StartsWith(Prefix, StringComparison.Ordinal))
            {
                return IPEndPoint.Parse(line[Prefix.Length..]).Port;
            }
        }
    }
}
