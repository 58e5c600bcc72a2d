using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sockeye.Hosting;

namespace Sockeye.Cli.Commands;

/// <summary>
/// <c>sockeye serve --config FILE</c>: runs the listeners a configuration file describes, in a Generic
/// Host, with the usual .NET precedence: the file, then environment variables
/// (<c>Sockeye__Listeners__echo__Port=7001</c>), then <c>--Sockeye:Listeners:echo:Port=7001</c> arguments.
/// </summary>
internal static class ServeConfigCommand
{
    /// <summary>The built-in servers a listener's <c>Protocol</c> may name.</summary>
    private static readonly (string Name, Func<IConnectionHandler> Handler)[] Protocols =
    [
        ("line-echo", () => EchoFraming.Handler("line", 64 * 1024)),
        ("length32-echo", () => EchoFraming.Handler("length32", 64 * 1024)),
    ];

    /// <summary>Adds <c>--config</c> and its <c>--drain-timeout</c> to <paramref name="serve"/>.</summary>
    public static void AddTo(Command serve)
    {
        var config = new Option<string>("--config")
        {
            Description = "Run the listeners a JSON file describes under Sockeye:Listeners:NAME (Protocol: echo, line-echo or length32-echo; Host; Port; any server option). "
                + "Environment variables (Sockeye__Listeners__NAME__KEY) and --Sockeye:Listeners:NAME:KEY=VALUE arguments override it",
        };
        var drainTimeout = CliOptions.Duration("--drain-timeout", TimeSpan.FromSeconds(10), "With --config: on SIGTERM, how long handlers get to finish before their connections are aborted");
        serve.Options.Add(config);
        serve.Options.Add(drainTimeout);

        // Configuration overrides (--Sockeye:...=...) are not options of ours: they reach the action unmatched.
        serve.TreatUnmatchedTokensAsErrors = false;
        serve.SetAction((parse, _) => RunAsync(parse.GetValue(config), parse.GetValue(drainTimeout), parse.UnmatchedTokens));
    }

    private static async Task<int> RunAsync(string? configPath, TimeSpan drainTimeout, IReadOnlyList<string> overrides)
    {
        if (configPath is null)
        {
            return await FailAsync("Required command was not provided: use 'serve echo ...' or 'serve --config FILE' (see 'sockeye serve --help')", Program.UsageError);
        }

        if (FirstStray(overrides) is { } stray)
        {
            return await FailAsync($"Unrecognized argument '{stray}' (configuration overrides look like --Sockeye:Listeners:NAME:KEY=VALUE)", Program.UsageError);
        }

        // The built-in protocols never block a thread, as with serve echo (an explicit setting in the environment wins).
        SocketEngine.UseInlineCompletions();
        var path = Path.GetFullPath(configPath);
        if (!File.Exists(path))
        {
            return await FailAsync($"--config: '{configPath}' does not exist", Program.UsageError);
        }

        IHost host;
        try
        {
            host = Build(path, drainTimeout, overrides);
        }
        catch (InvalidDataException ex)
        {
            // The innermost error is the JSON reader's, with the line and position.
            var cause = ex.GetBaseException();
            return await FailAsync($"--config: cannot read '{configPath}': {cause.Message}", Program.UsageError);
        }

        using (host)
        {
            try
            {
                await host.StartAsync();
            }
            catch (SockeyeConfigurationException ex)
            {
                return await FailAsync(ex.Message, Program.UsageError);
            }
            catch (IOException ex)
            {
                return await FailAsync(ex.Message, 1);
            }

            var listeners = host.Services.GetRequiredService<SockeyeListeners>();
            foreach (var listener in listeners.All)
            {
                await Console.Out.WriteLineAsync($"sockeye: listener {listener.Name} ({listener.Protocol}) listening on {listener.LocalEndPoint}");
            }

            await Console.Out.FlushAsync();
            host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() =>
                Console.Out.WriteLine($"sockeye: stopping; draining for up to {Sockeye.Timing.DurationText.Format(drainTimeout)}"));

            // The host handles SIGTERM and Ctrl-C: it stops every listener, draining within its shutdown timeout.
            await host.WaitForShutdownAsync();
            var drained = listeners.All.Sum(l => l.ShutdownSummary?.Drained ?? 0);
            var aborted = listeners.All.Sum(l => l.ShutdownSummary?.Aborted ?? 0);
            var elapsed = listeners.All.Select(l => l.ShutdownSummary?.Elapsed ?? TimeSpan.Zero).DefaultIfEmpty().Max();
            await Console.Out.WriteLineAsync($"sockeye: stopped: {drained} drained, {aborted} aborted in {elapsed.TotalMilliseconds:F0} ms");
            return aborted == 0 ? 0 : 1;
        }
    }

    private static IHost Build(string configPath, TimeSpan drainTimeout, IReadOnlyList<string> overrides)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration
            .AddJsonFile(configPath, optional: false, reloadOnChange: false)
            .AddEnvironmentVariables()
            .AddCommandLine([.. overrides]);
        builder.Logging
            .SetMinimumLevel(LogLevel.Information)
            .AddFilter("Microsoft", LogLevel.Warning)
            .AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical) // a failed start is reported in one line below
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            })
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace); // stdout is for the listening lines
        // The host's timeout is a little longer than the drain, so the abort after it has time to run.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = drainTimeout + TimeSpan.FromSeconds(5));
        builder.Services.AddSockeye(sockeye =>
        {
            sockeye.DrainTimeout = drainTimeout;
            foreach (var (name, handler) in Protocols)
            {
                sockeye.AddProtocol(name, _ => handler());
            }
        });
        return builder.Build();
    }

    /// <summary>The first token that is not a configuration override: overrides are
    /// <c>--KEY=VALUE</c>, or <c>--KEY</c> followed by its value.</summary>
    private static string? FirstStray(IReadOnlyList<string> tokens)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            if (!tokens[i].StartsWith("--", StringComparison.Ordinal))
            {
                return tokens[i];
            }

            if (!tokens[i].Contains('=', StringComparison.Ordinal))
            {
                i++; // its value
            }
        }

        return null;
    }

    private static async Task<int> FailAsync(string message, int exitCode)
    {
        await Console.Error.WriteLineAsync($"sockeye: error: {message}");
        return exitCode;
    }
}
