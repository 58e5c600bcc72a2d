using System.CommandLine;
using System.Globalization;
using System.Net;

namespace Sockeye.Cli.Commands.Bench;

/// <summary><c>sockeye bench udp</c>: measures datagrams per second, loss and round-trip latency against a
/// UDP echo server (such as <c>sockeye serve udp-echo</c>).</summary>
internal static class UdpBenchCommand
{
    public static Command Create()
    {
        var host = CliOptions.Host("The UDP echo server's address (an IP address)");
        var port = CliOptions.Port("The UDP echo server's port", 7000);
        var clients = CliOptions.AtLeast("--clients", 1, 4, "Sockets sending at once, each from its own port");
        var window = CliOptions.AtLeast("--window", 1, 16, "Datagrams each client keeps in flight (1 = ping-pong)");
        var size = CliOptions.Size("--size", 64, "Bytes per datagram (at least 8)");
        var duration = CliOptions.Duration("--duration", TimeSpan.FromSeconds(10), "How long to send");
        var lossTimeout = CliOptions.Duration("--loss-timeout", TimeSpan.FromMilliseconds(500), "A reply not back within this counts as lost");

        var command = new Command("udp", "Measure datagrams/s, loss and latency against a UDP echo server.")
        {
            host, port, clients, window, size, duration, lossTimeout,
        };
        host.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (!IPAddress.TryParse(value, out _))
            {
                r.AddError($"--host must be an IP address, got '{value}'");
            }
        });
        size.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<long>();
            if (value is < 8 or > 65_507)
            {
                r.AddError($"--size must be between 8 and 65507 bytes, got {value}");
            }
        });
        duration.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<TimeSpan>() <= TimeSpan.Zero)
            {
                r.AddError("--duration must be positive");
            }
        });
        lossTimeout.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<TimeSpan>() <= TimeSpan.Zero)
            {
                r.AddError("--loss-timeout must be positive");
            }
        });

        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new UdpLoadSettings(
                new IPEndPoint(IPAddress.Parse(parse.GetValue(host)!), parse.GetValue(port)),
                parse.GetValue(clients),
                parse.GetValue(window),
                (int)parse.GetValue(size),
                parse.GetValue(duration),
                parse.GetValue(lossTimeout));
            await Console.Out.WriteLineAsync(
                $"sockeye bench udp: {settings.Target}, {settings.Clients} client{(settings.Clients == 1 ? "" : "s")} x window {settings.Window}, "
                + $"{settings.Size}-byte datagrams, {Sockeye.Timing.DurationText.Format(settings.Duration)}");
            var result = await UdpLoadGenerator.RunAsync(settings, cancellationToken);
            await Console.Out.WriteLineAsync(Format(result));
            if (result.Error is not null)
            {
                await Console.Error.WriteLineAsync($"sockeye: error: {result.Error}");
                return 1;
            }

            return 0;
        });
        return command;
    }

    /// <summary>The two report lines: counts and rate, then latency percentiles.</summary>
    internal static string Format(UdpLoadResult result)
    {
        var c = CultureInfo.InvariantCulture;
        var latency = string.Join("  ", result.Latency.Select(l => string.Create(c, $"p{l.Percentile} {l.Microseconds}")));
        return string.Create(c, $"sent {result.Sent:N0}  received {result.Received:N0}  lost {result.Lost:N0} ({result.LossRatio:P3})  {result.DatagramsPerSecond:N0} datagrams/s")
            + Environment.NewLine
            + string.Create(c, $"round trip µs: {latency}  max {result.MaxLatencyMicroseconds}");
    }
}
