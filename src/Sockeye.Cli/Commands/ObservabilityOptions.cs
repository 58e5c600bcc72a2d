using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Sockeye.Cli.Observability;

namespace Sockeye.Cli.Commands;

/// <summary>
/// The options with which a serving command is watched: <c>--metrics-port</c> and <c>--metrics-host</c>
/// (the admin port with <c>/metrics</c>, <c>/healthz</c>, <c>/readyz</c>; off unless a port is given),
/// <c>--log-level</c> and <c>--log-format</c>.
/// </summary>
internal sealed class ObservabilityOptions
{
    public Option<int?> MetricsPort { get; } = MetricsPortOption();

    public Option<string> MetricsHost { get; } = new("--metrics-host")
    {
        Description = "Address the admin port listens on (default 127.0.0.1; 0.0.0.0 for every interface)",
        DefaultValueFactory = _ => "127.0.0.1",
    };

    public Option<int> MetricsMaxConnections { get; } = MetricsMaxConnectionsOption();

    public Option<LogLevel> LogLevel { get; } = new("--log-level")
    {
        Description = "Least severe log messages written to stderr: Trace, Debug (one line per connection), Information, Warning, Error, Critical or None (default Information)",
        DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Information,
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (Enum.TryParse<LogLevel>(text, ignoreCase: true, out var level) && Enum.IsDefined(level) && !int.TryParse(text, out _))
            {
                return level;
            }

            r.AddError($"--log-level must be one of {string.Join(", ", Enum.GetNames<LogLevel>())}, got '{text}'");
            return default;
        },
    };

    public Option<string> LogFormat { get; } = LogFormatOption();

    public Option<bool> NoMetrics { get; } = new("--no-metrics")
    {
        Description = "Publish no metrics and count no bytes (to measure what metrics cost; --metrics-port then shows nothing)",
    };

    /// <summary>
    /// On SIGTERM or SIGINT, how long <c>/readyz</c> answers 503 while the server still accepts and serves,
    /// before the drain begins: the time a load balancer's health checks need to take the instance out
    /// (HAProxy: about <c>fall</c> x <c>inter</c>), so that new connections stop arriving before the
    /// listener closes. 0 (the default) drains at once. Kubernetes users get the same from a
    /// <c>preStop</c> sleep; see docs/DEPLOY.md.
    /// </summary>
    public Option<TimeSpan> ShutdownDelay { get; } = CliOptions.Duration("--shutdown-delay", TimeSpan.Zero,
        "On SIGTERM, answer /readyz with 503 but keep accepting and serving this long before draining, so a load balancer's health checks take the instance out first");

    // Set when a stop signal starts the shutdown delay: /readyz answers 503 from then on.
    private volatile bool _leaving;

    /// <summary>Adds every option to <paramref name="command"/>.</summary>
    public void AddTo(Command command) => AddTo(command, withNoMetrics: true);

    /// <summary>Adds the admin-port and logging options to <paramref name="command"/>, and
    /// <c>--no-metrics</c> and <c>--shutdown-delay</c> when <paramref name="withNoMetrics"/> (a command
    /// whose servers are not built from <see cref="TcpServerOptions"/> and run by
    /// <see cref="ServeRunner"/> here, such as <c>serve --config</c>, leaves them out).</summary>
    public void AddTo(Command command, bool withNoMetrics)
    {
        command.Options.Add(MetricsPort);
        command.Options.Add(MetricsHost);
        command.Options.Add(MetricsMaxConnections);
        command.Options.Add(LogLevel);
        command.Options.Add(LogFormat);
        if (withNoMetrics)
        {
            command.Options.Add(NoMetrics);
            command.Options.Add(ShutdownDelay);
        }

        MetricsHost.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (!IPAddress.TryParse(value, out _) && value != "localhost")
            {
                r.AddError($"--metrics-host must be an IP address or localhost, got '{value}'");
            }
        });
    }

    /// <summary>Copies <c>--no-metrics</c> onto <paramref name="options"/>.</summary>
    public void Apply(ParseResult parse, TcpServerOptions options) => options.EnableMetrics = !parse.GetValue(NoMetrics);

    /// <summary>The logger factory the options ask for: to stderr, one line per message, or JSON lines.</summary>
    public ILoggerFactory CreateLoggerFactory(ParseResult parse) =>
        CreateLoggerFactory(parse.GetValue(LogLevel), parse.GetValue(LogFormat) ?? "text");

    /// <summary>Starts the admin port when <c>--metrics-port</c> was given (else returns null) and prints its URL.</summary>
    /// <param name="parse">The command line.</param>
    /// <param name="isReady">Answers <c>/readyz</c>.</param>
    /// <param name="loggerFactory">The command's logging (Kestrel's warnings, the admin port's refusals).</param>
    /// <param name="descriptorReserve">The data ports' descriptor reserve, which the admin port keeps too.</param>
    /// <param name="dependency">What else <c>/readyz</c> reports on (the chat's backplane), or null.</param>
    /// <exception cref="IOException">The port cannot be bound.</exception>
    public async Task<AdminEndpoint?> StartAdminAsync(ParseResult parse, Func<bool> isReady, ILoggerFactory loggerFactory, int descriptorReserve, Func<ReadinessLine>? dependency = null)
    {
        // Not ready from the moment the shutdown delay begins, whatever the server says.
        var serving = isReady;
        isReady = () => !_leaving && serving();

        if (parse.GetValue(MetricsPort) is not { } port)
        {
            return null;
        }

        var admin = await AdminEndpoint.StartAsync(
            new AdminEndpointOptions
            {
                Host = parse.GetValue(MetricsHost)!,
                Port = port,
                MaxConnections = parse.GetValue(MetricsMaxConnections),
                DescriptorReserve = descriptorReserve,
            },
            isReady,
            loggerFactory,
            dependency);
        await Console.Out.WriteLineAsync($"sockeye: metrics on {admin.MetricsUrl} (also /healthz, /readyz)");
        return admin;
    }

    /// <summary>
    /// After a stop signal and before the drain: when <c>--shutdown-delay</c> is above 0, turns
    /// <c>/readyz</c> to 503, says so on stdout and waits that long while the server still accepts and
    /// serves; otherwise returns at once.
    /// </summary>
    /// <param name="parse">The command line.</param>
    /// <param name="signal">The signal that asked to stop, for the line on stdout.</param>
    public async Task WaitShutdownDelayAsync(ParseResult parse, System.Runtime.InteropServices.PosixSignal signal)
    {
        var delay = parse.GetValue(ShutdownDelay);
        if (delay <= TimeSpan.Zero)
        {
            return;
        }

        _leaving = true;
        await Console.Out.WriteLineAsync($"sockeye: {signal} received; not ready (/readyz 503), still serving for {Sockeye.Timing.DurationText.Format(delay)} (--shutdown-delay) before the drain").ConfigureAwait(false);
        await Task.Delay(delay).ConfigureAwait(false);
    }

    /// <summary>Logs to stderr (stdout carries only the command's own lines), Microsoft.* at Warning and up.</summary>
    public static ILoggerFactory CreateLoggerFactory(LogLevel level, string format) =>
        LoggerFactory.Create(builder => ConfigureLogging(builder, level, format));

    /// <summary>The logging of <see cref="CreateLoggerFactory(LogLevel, string)"/>, on a builder of
    /// one's own (a Generic Host's <c>builder.Logging</c>).</summary>
    public static void ConfigureLogging(ILoggingBuilder builder, LogLevel level, string format)
    {
        builder.SetMinimumLevel(level).AddFilter("Microsoft", Microsoft.Extensions.Logging.LogLevel.Warning);
        if (format == "json")
        {
            builder.AddJsonConsole(o =>
            {
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
            });
        }
        else
        {
            builder.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }

        builder.AddConsole(o => o.LogToStandardErrorThreshold = Microsoft.Extensions.Logging.LogLevel.Trace);
    }

    private static Option<int> MetricsMaxConnectionsOption()
    {
        var option = new Option<int>("--metrics-max-connections")
        {
            Description = $"Most admin-port connections held at once; more are reset as they arrive (default {AdminEndpointOptions.DefaultMaxConnections}). "
                + "Requests must send their headers within 5s; idle keep-alive connections close after 10s",
            DefaultValueFactory = _ => AdminEndpointOptions.DefaultMaxConnections,
        };
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<int>();
            if (value is < 1 or > 1000)
            {
                r.AddError($"--metrics-max-connections must be between 1 and 1000, got {value}");
            }
        });
        return option;
    }

    private static Option<int?> MetricsPortOption()
    {
        var option = new Option<int?>("--metrics-port")
        {
            Description = "Serve /metrics (Prometheus), /healthz and /readyz on this port (off unless given)",
        };
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<int?>();
            if (value is < 1 or > 65535)
            {
                r.AddError($"--metrics-port must be between 1 and 65535, got {value}");
            }
        });
        return option;
    }

    private static Option<string> LogFormatOption()
    {
        var option = new Option<string>("--log-format")
        {
            Description = "How log lines look: text (one line per message) or json (one JSON object per line, for log shippers) (default text)",
            DefaultValueFactory = _ => "text",
        };
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (value is not ("text" or "json"))
            {
                r.AddError($"--log-format must be text or json, got '{value}'");
            }
        });
        return option;
    }
}
