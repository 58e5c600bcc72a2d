using System.CommandLine;
using System.Net;
using Sockeye.Bench;

namespace Sockeye.Cli.Commands;

/// <summary><c>sockeye bench udp</c>: measures datagrams per second, loss and round-trip latency against a
/// UDP echo server (such as <c>sockeye serve udp-echo</c>). The verb only; the load generator is
/// Sockeye.Bench's udp workload.</summary>
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
        var serverPid = BenchCommand.ServerPidOption();
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No live progress on stderr" };

        var command = new Command("udp", "Measure datagrams/s, loss and latency against a UDP echo server.")
        {
            host, port, clients, window, size, duration, lossTimeout, serverPid, json, quiet,
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
            var settings = new BenchSettings
            {
                Mode = BenchMode.Udp,
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                Connections = parse.GetValue(clients),
                Window = parse.GetValue(window),
                Size = (int)parse.GetValue(size),
                Duration = parse.GetValue(duration),
                LossTimeout = parse.GetValue(lossTimeout),
                // The window opens with the first datagram, as it always has for udp: no warm-up.
                Warmup = TimeSpan.Zero,
                ServerPid = parse.GetValue(serverPid),
                Json = parse.GetValue(json),
                Quiet = parse.GetValue(quiet),
            };
            if (!settings.Json)
            {
                await Console.Out.WriteLineAsync(
                    $"sockeye bench udp: {settings.Target}, {settings.Connections} client{(settings.Connections == 1 ? "" : "s")} x window {settings.Window}, "
                    + $"{settings.Size}-byte datagrams, {Sockeye.Timing.DurationText.Format(settings.Duration)}");
            }

            return await BenchCommand.RunAsync(settings, cancellationToken);
        });
        return command;
    }
}
