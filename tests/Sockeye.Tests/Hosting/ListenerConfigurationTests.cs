using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sockeye.Hosting;
using Sockeye.Hosting.Internal;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Hosting;

public class ListenerConfigurationTests
{
    [Fact]
    public async Task JsonThenEnvironmentThenCommandLineEachOverrideTheLastAndCodeSetsDefaults()
    {
        var json = Path.GetTempFileName();
        var prefix = $"SOCKEYE_TEST_{Guid.NewGuid():N}_";
        try
        {
            await File.WriteAllTextAsync(json, """
                { "Sockeye": { "Listeners": { "echo": {
                    "Port": 0, "MaxConnections": 100, "IdleTimeout": "00:02:00", "ReadTimeout": "5s",
                    "MaxReadBufferSize": 65536, "MaxWriteBufferSize": null, "NoDelay": false,
                    "MinReceiveRate": { "BytesPerSecond": 240, "GracePeriod": "00:00:05" } } } } }
                """);
            Environment.SetEnvironmentVariable($"{prefix}Sockeye__Listeners__echo__MaxConnections", "200");
            Environment.SetEnvironmentVariable($"{prefix}Sockeye__Listeners__echo__IdleTimeout", "90s");
            using var host = TestHost.Build(
                s => s.AddListener("echo", Sockeye.Handlers.EchoHandler.Instance, o =>
                {
                    o.Server.ListenBacklog = 64;      // only code sets it: kept
                    o.Server.MaxConnections = 5;      // the configuration overrides it
                }),
                configuration: c => c
                    .AddJsonFile(json)
                    .AddEnvironmentVariables(prefix)
                    .AddCommandLine(["--Sockeye:Listeners:echo:IdleTimeout=30s"]));

            await host.StartAsync().WaitAsync(Loopback.Patience);
            var server = host.Listener("echo").Options.Server;

            Assert.Equal(200, server.MaxConnections);                        // environment over JSON over code
            Assert.Equal(TimeSpan.FromSeconds(30), server.IdleTimeout);      // command line over environment
            Assert.Equal(TimeSpan.FromSeconds(5), server.ReadTimeout);       // JSON alone
            Assert.Equal(64, server.ListenBacklog);                          // code alone
            Assert.Equal(65536, server.MaxReadBufferSize);
            Assert.Null(server.MaxWriteBufferSize);
            Assert.False(server.NoDelay);
            Assert.Equal(new MinDataRate(240, TimeSpan.FromSeconds(5)), server.MinReceiveRate);
            await host.StopAsync().WaitAsync(Loopback.Patience);
        }
        finally
        {
            File.Delete(json);
            Environment.SetEnvironmentVariable($"{prefix}Sockeye__Listeners__echo__MaxConnections", null);
            Environment.SetEnvironmentVariable($"{prefix}Sockeye__Listeners__echo__IdleTimeout", null);
        }
    }

    [Theory]
    [InlineData("MaxConnections", "lots", "Sockeye:Listeners:echo:MaxConnections must be a whole number, got 'lots'")]
    [InlineData("MaxConnections", "-5", "Sockeye:Listeners:echo:MaxConnections must be at least 1, got -5")]
    [InlineData("MaxConnections", "99999999999", "Sockeye:Listeners:echo:MaxConnections is out of range, got '99999999999'")]
    [InlineData("IdleTimeout", "soon", "Sockeye:Listeners:echo:IdleTimeout is not a duration (use hh:mm:ss such as 00:02:00, or a number with ms, s, m or h such as 30s; 0 or off to disable), got 'soon'")]
    [InlineData("IdleTimeout", "30", "Sockeye:Listeners:echo:IdleTimeout is not a duration")]
    [InlineData("IdleTimeout", "-00:00:05", "Sockeye:Listeners:echo:IdleTimeout must not be negative (zero turns it off), got -00:00:05")]
    [InlineData("TimeoutResolution", "1ms", "Sockeye:Listeners:echo:TimeoutResolution must be between 10 ms and 10 s, got 00:00:00.0010000")]
    [InlineData("MaxReadBufferSize", "0", "Sockeye:Listeners:echo:MaxReadBufferSize must be positive (null for no limit), got 0")]
    [InlineData("MaxReadBufferSize", "1MiB", "Sockeye:Listeners:echo:MaxReadBufferSize must be a whole number (or null for none), got '1MiB'")]
    [InlineData("NoDelay", "maybe", "Sockeye:Listeners:echo:NoDelay must be true or false, got 'maybe'")]
    [InlineData("IoEngine", "kqueue", "Sockeye:Listeners:echo:IoEngine must be one of Default, Epoll, Sockets, got 'kqueue'")]
    [InlineData("Port", "70000", "Sockeye:Listeners:echo:Port must be between 0 and 65535, got 70000")]
    [InlineData("Port", "seven", "Sockeye:Listeners:echo:Port must be a whole number, got 'seven'")]
    [InlineData("Host", "example.com", "Sockeye:Listeners:echo:Host must be an IP address, localhost or *, got 'example.com'")]
    [InlineData("Protocol", "chat", "Sockeye:Listeners:echo:Protocol must be one of echo, udp-echo, got 'chat'")]
    [InlineData("MaxConection", "10", "Sockeye:Listeners:echo:MaxConection is not a listener option (the options are Host, Port, Protocol, ")]
    [InlineData("EndPoint", "127.0.0.1:7000", "Sockeye:Listeners:echo:EndPoint is not a listener option")]
    [InlineData("MinReceiveRate:BytesPerSecond", "240", "Sockeye:Listeners:echo:MinReceiveRate:GracePeriod is missing (set BytesPerSecond and GracePeriod)")]
    public async Task EachKindOfBadValueStopsTheStartWithAMessageNamingTheKeyAndTheValue(string key, string value, string message)
    {
        var settings = new Dictionary<string, string?> { ["Sockeye:Listeners:echo:Protocol"] = "echo", [$"Sockeye:Listeners:echo:{key}"] = value };
        var ok = new Dictionary<string, string?> { ["Sockeye:Listeners:fine:Protocol"] = "echo" };
        using var host = TestHost.Build(settings: ok.Concat(settings).ToDictionary());

        var ex = await Assert.ThrowsAsync<SockeyeConfigurationException>(() => host.StartAsync().WaitAsync(Loopback.Patience));

        Assert.StartsWith(message, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith("Sockeye:Listeners:echo:", ex.Key, StringComparison.Ordinal);
        Assert.Equal(0, host.Services.GetRequiredService<SockeyeListeners>().Count); // nothing was bound
    }

    [Fact]
    public async Task TheIoEngineAndInlineCompletionsComeFromConfiguration()
    {
        using var host = TestHost.Build(settings: new Dictionary<string, string?>
        {
            ["Sockeye:Listeners:echo:Protocol"] = "echo",
            ["Sockeye:Listeners:echo:IoEngine"] = "sockets",
            ["Sockeye:Listeners:echo:InlineCompletions"] = "true",
        });

        await host.StartAsync().WaitAsync(Loopback.Patience);
        var server = host.Listener("echo").Options.Server;
        Assert.Equal(IoEngine.Sockets, server.IoEngine);
        Assert.True(server.InlineCompletions);

        using var client = await Loopback.ConnectAsync(host.Listener("echo").LocalEndPoint!);
        await client.SendAllAsync("engine"u8.ToArray());
        Assert.Equal("engine"u8.ToArray(), await client.ReceiveExactlyAsync(6));
        await host.StopAsync().WaitAsync(Loopback.Patience);
    }

    [Fact]
    public async Task AListenerWithoutAHandlerOrAProtocolIsRefused()
    {
        using var host = TestHost.Build(settings: new Dictionary<string, string?> { ["Sockeye:Listeners:lonely:Port"] = "0" });

        var ex = await Assert.ThrowsAsync<SockeyeConfigurationException>(() => host.StartAsync().WaitAsync(Loopback.Patience));

        Assert.Equal("Sockeye:Listeners:lonely:Protocol is missing: name a built-in protocol (echo, udp-echo) or add listener 'lonely' in code", ex.Message);
    }

    [Fact]
    public async Task AConfiguredPortIsTheOneListenedOn()
    {
        using var probe = new Socket(SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var port = ((System.Net.IPEndPoint)probe.LocalEndPoint!).Port;
        probe.Close();
        using var host = TestHost.Build(
            s => s.AddListener("echo", Sockeye.Handlers.EchoHandler.Instance, o => o.Port = 1),
            settings: new Dictionary<string, string?> { ["Sockeye:Listeners:echo:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) });

        await host.StartAsync().WaitAsync(Loopback.Patience);

        Assert.Equal(port, host.Listener("echo").LocalEndPoint!.Port);
        await host.StopAsync().WaitAsync(Loopback.Patience);
    }

    [Theory]
    [InlineData("00:02:00", 120_000)]
    [InlineData("1.00:00:00", 86_400_000)]
    [InlineData("30s", 30_000)]
    [InlineData("500ms", 500)]
    [InlineData("1.5s", 1_500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("0", 0)]
    [InlineData("off", 0)]
    public void DurationsReadInEitherForm(string text, double milliseconds)
    {
        Assert.True(OptionsBinder.TryParseDuration(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("30")]
    [InlineData("soon")]
    [InlineData("5 minutes")]
    [InlineData("")]
    public void AmbiguousOrUnknownDurationsAreRefused(string text) =>
        Assert.False(OptionsBinder.TryParseDuration(text, out _));

    // The binder names its record types (trimming keeps only the constructors of types it sees), so a new
    // option of a record type would silently be unbindable: this finds such a type by reflection, as the
    // binder once did, and fails until the binder names it too.
    [Theory]
    [InlineData(typeof(TcpServerOptions))]
    [InlineData(typeof(Sockeye.Udp.UdpServerOptions))]
    public void EveryRecordTypedOptionIsBindable(Type optionsType)
    {
        var records = optionsType.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
            .Where(p => p.SetMethod is { IsPublic: true })
            .Select(p => (p.Name, Type: Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType))
            .Where(p => p.Type.IsClass && p.Type != typeof(string) && p.Type.GetConstructors() is [var only] && only.GetParameters().Length > 0)
            .ToList();
        var bindable = OptionsBinder.BindableProperties(optionsType).Select(p => p.Name).ToHashSet();

        if (optionsType == typeof(TcpServerOptions))
        {
            Assert.Contains(records, r => r.Type == typeof(MinDataRate));   // the search finds what it looks for
        }

        Assert.All(records, r => Assert.True(bindable.Contains(r.Name), $"{optionsType.Name}.{r.Name} ({r.Type.Name}) is not named in OptionsBinder.ConstructorOf"));
    }
}
