using System.Net.Sockets;
using System.Text;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Cli;

public sealed class ServeConfigCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sockeye-config-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task RunsTheListenersTheFileDescribesAndDrainsOnSigterm()
    {
        var config = Write("sockeye.json", """
            { "Sockeye": { "Listeners": { "echo": { "Protocol": "echo", "Host": "127.0.0.1", "Port": 0,
                "MaxConnections": 10000, "IdleTimeout": "00:02:00" } } } }
            """);
        using var server = CliProcess.Start($"serve --config {config} --drain-timeout 5s");
        var endPoint = await server.ListeningAsync();
        using var client = await Loopback.ConnectAsync(endPoint);
        var payload = new byte[100_000];
        Random.Shared.NextBytes(payload);
        var echoed = client.ReceiveExactlyAsync(payload.Length);
        await client.SendAllAsync(payload);
        Assert.Equal(payload, await echoed);

        server.Signal("TERM");

        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
        Assert.Equal(0, await server.WaitForExitAsync());
        Assert.Contains("listener echo (echo) listening on 127.0.0.1:", server.Stdout, StringComparison.Ordinal);
        Assert.Contains("stopped: 1 drained, 0 aborted", server.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnvironmentOverridesTheFileAndTheCommandLineOverridesBoth()
    {
        var config = Write("sockeye.json", """{ "Sockeye": { "Listeners": { "svc": { "Protocol": "echo", "Port": 0 } } } }""");
        var environment = new Dictionary<string, string>
        {
            ["Sockeye__Listeners__svc__Protocol"] = "line-echo",
            ["Sockeye__Listeners__svc__MaxConnections"] = "-1",
        };

        var fromEnvironment = await ProtocolServedAsync($"serve --config {config} --Sockeye:Listeners:svc:MaxConnections=5", environment);
        var fromCommandLine = await ProtocolServedAsync($"serve --config {config} --Sockeye:Listeners:svc:MaxConnections=5 --Sockeye:Listeners:svc:Protocol length32-echo", environment);

        Assert.Equal("line-echo", fromEnvironment);
        Assert.Equal("length32-echo", fromCommandLine);
    }

    [Fact]
    public async Task ALineEchoListenerFromTheFileEchoesWholeLines()
    {
        var config = Write("sockeye.json", """{ "Sockeye": { "Listeners": { "lines": { "Protocol": "line-echo", "Port": 0 } } } }""");
        using var server = CliProcess.Start($"serve --config {config}");
        using var client = await Loopback.ConnectAsync(await server.ListeningAsync());

        await client.SendAllAsync("one\ntw"u8.ToArray());
        Assert.Equal("one\n", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(4)));
        await client.SendAllAsync("o\n"u8.ToArray());
        Assert.Equal("two\n", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(4)));
    }

    [Fact]
    public async Task AUdpEchoListenerFromTheFileAnswersADatagramAndTheFilesDrainTimeoutIsUsed()
    {
        var config = Write("sockeye.json", """
            { "Sockeye": { "DrainTimeout": "2s", "Listeners": { "dgram": { "Protocol": "udp-echo", "Port": 0,
                "MaxDatagramSize": 1200, "ReceiveSockets": 2 } } } }
            """);
        using var server = CliProcess.Start($"serve --config {config}");
        using var client = UdpLoopback.Connect(await server.ListeningAsync());

        Assert.Equal("ping", Encoding.ASCII.GetString(await client.RoundTripAsync("ping"u8.ToArray())));

        server.Signal("TERM");
        Assert.Equal(0, await server.WaitForExitAsync());
        Assert.Contains("listener dgram (udp-echo) listening on 127.0.0.1:", server.Stdout, StringComparison.Ordinal);
        Assert.Contains("draining for up to 2s", server.Stdout, StringComparison.Ordinal);
        Assert.Contains("stopped: 0 drained, 0 aborted", server.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "Sockeye": { "Listeners": { "echo": { "Protocol": "echo", "IdleTimeout": "soon" } } } }""", "",
        "Sockeye:Listeners:echo:IdleTimeout is not a duration (use hh:mm:ss such as 00:02:00, or a number with ms, s, m or h such as 30s; 0 or off to disable), got 'soon'")]
    [InlineData("""{ "Sockeye": { "Listeners": { "echo": { "Protocol": "echo", "MaxConnections": 0 } } } }""", "",
        "Sockeye:Listeners:echo:MaxConnections must be at least 1, got 0")]
    [InlineData("""{ "Sockeye": { "Listeners": { "echo": { "Protocol": "echo", "Port": 99999 } } } }""", "",
        "Sockeye:Listeners:echo:Port must be between 0 and 65535, got 99999")]
    [InlineData("""{ "Sockeye": { "Listeners": { "echo": { "Protocol": "gopher" } } } }""", "",
        "Sockeye:Listeners:echo:Protocol must be one of echo, line-echo, length32-echo, udp-echo, got 'gopher'")]
    [InlineData("""{ "Sockeye": { "Listeners": { "echo": { "Protocol": "echo", "IdelTimeout": "30s" } } } }""", "",
        "Sockeye:Listeners:echo:IdelTimeout is not a listener option (the options are Host, Port, Protocol, ")]
    [InlineData("""{ "Sockeye": { "Listeners": { "echo": { "Protocol": "echo" } } } }""", "--Sockeye:Listeners:echo:NoDelay=perhaps",
        "Sockeye:Listeners:echo:NoDelay must be true or false, got 'perhaps'")]
    [InlineData("""{ "Sockeye": { "Listeners": { "dgram": { "Protocol": "udp-echo", "MaxDatagramSize": 70000 } } } }""", "",
        "Sockeye:Listeners:dgram:MaxDatagramSize must be between 1 and 65507, got 70000")]
    [InlineData("""{ "Sockeye": { "Listeners": { "echo": { "Protocol": "echo" } } } }""", "stray",
        "Unrecognized argument 'stray' (configuration overrides look like --Sockeye:Listeners:NAME:KEY=VALUE)")]
    [InlineData("""{ "Sockeye": { "Listeners": { "echo": """, "",
        "--config: cannot read '")]
    public async Task BadConfigurationGivesOneLineNamingTheKeyAndTheValueAndExitCode2(string json, string extra, string message)
    {
        var config = Write("bad.json", json);

        var (exitCode, stdout, stderr) = await CliProcess.RunAsync($"serve --config {config} {extra}");

        Assert.Equal(2, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"sockeye: error: {message}", line, StringComparison.Ordinal);
        Assert.Equal("", stdout);
    }

    [Fact]
    public async Task ABadEnvironmentValueIsReportedByItsConfigurationKey()
    {
        var config = Write("sockeye.json", """{ "Sockeye": { "Listeners": { "echo": { "Protocol": "echo" } } } }""");

        var (exitCode, _, stderr) = await CliProcess.RunAsync($"serve --config {config}",
            new Dictionary<string, string> { ["Sockeye__Listeners__echo__ReadTimeout"] = "forever" });

        Assert.Equal(2, exitCode);
        Assert.StartsWith("sockeye: error: Sockeye:Listeners:echo:ReadTimeout is not a duration", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMissingFileIsReportedByName()
    {
        var (exitCode, _, stderr) = await CliProcess.RunAsync("serve --config /nonexistent/sockeye.json");

        Assert.Equal(2, exitCode);
        Assert.Equal("sockeye: error: --config: '/nonexistent/sockeye.json' does not exist", stderr.Trim());
    }

    private static async Task<string> ProtocolServedAsync(string arguments, IReadOnlyDictionary<string, string> environment)
    {
        using var server = CliProcess.Start(arguments, environment: environment);
        await server.ListeningAsync();
        var match = System.Text.RegularExpressions.Regex.Match(server.Stdout, @"listener svc \(([^)]+)\) listening on");
        Assert.True(match.Success, server.Stdout + server.Stderr);
        return match.Groups[1].Value;
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, content);
        return path;
    }
}
