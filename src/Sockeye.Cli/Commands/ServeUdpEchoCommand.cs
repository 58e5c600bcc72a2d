using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using Sockeye.Handlers;
using Sockeye.Udp;

namespace Sockeye.Cli.Commands;

/// <summary><c>sockeye serve udp-echo</c>: a UDP echo server (RFC 862) until SIGTERM or Ctrl-C, then a drain.</summary>
internal static class ServeUdpEchoCommand
{
    public static Command Create()
    {
        var host = CliOptions.Host("Address to receive on (an IP address; 0.0.0.0 or :: for all interfaces)");
        var port = CliOptions.Port("Port to receive on (0 picks a free one; the chosen port is printed)", 7000);
        var sockets = CliOptions.AtLeast("--sockets", 1, Environment.ProcessorCount, "Receive sockets sharing the port (SO_REUSEPORT), one receive loop each");
        var maxDatagram = CliOptions.Size("--max-datagram-size", 8192, "Largest datagram accepted; larger ones are dropped and counted");
        var maxHandlers = CliOptions.AtLeast("--max-handlers", 1, 1024, "Most datagrams handled at once; more are dropped and counted");
        var drainTimeout = CliOptions.Duration("--drain-timeout", TimeSpan.FromSeconds(5), "On SIGTERM, how long running handlers get to finish");

        var command = new Command("udp-echo", "Echo every UDP datagram back to its sender (RFC 862).")
        {
            host, port, sockets, maxDatagram, maxHandlers, drainTimeout,
        };

        host.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (!IPAddress.TryParse(value, out _))
            {
                r.AddError($"--host must be an IP address, got '{value}'");
            }
        });
        maxDatagram.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<long>();
            if (value is < 1 or > 65_507)
            {
                r.AddError($"--max-datagram-size must be between 1 and 65507 bytes, got {value}");
            }
        });

        var watch = new ObservabilityOptions();
        watch.AddTo(command);
        command.SetAction((parse, _) => RunAsync(
            new UdpServerOptions
            {
                EndPoint = new IPEndPoint(IPAddress.Parse(parse.GetValue(host)!), parse.GetValue(port)),
                ReceiveSockets = parse.GetValue(sockets),
                MaxDatagramSize = (int)parse.GetValue(maxDatagram),
                MaxConcurrentHandlers = parse.GetValue(maxHandlers),
            },
            parse.GetValue(drainTimeout),
            parse,
            watch));
        return command;
    }

    /// <summary>Runs the UDP echo server until SIGTERM or SIGINT, then drains (<see cref="ServeRunner.RunAsync{TServer}"/>);
    /// it prints <c>listening on udp HOST:PORT</c> and, at the end, the datagram counts.</summary>
    private static Task<int> RunAsync(UdpServerOptions options, TimeSpan drainTimeout, ParseResult parse, ObservabilityOptions watch) =>
        ServeRunner.RunAsync(parse, watch, drainTimeout, loggerFactory =>
        {
            options.LoggerFactory = loggerFactory;
            return new ServeRun<UdpServer>
            {
                Create = () => new UdpServer(options),
                Start = server => server.StartAsync(DatagramEchoHandler.Instance),
                Listening = server => $"udp {server.LocalEndPoint} ({server.ReceiveSockets} sockets)",

                // A UDP echo server has nothing to reload, but SIGHUP must not end it either (its default action).
                Reload = _ => "nothing to reload (a UDP echo server has no certificates)",
                Stopped = (server, summary) =>
                    $"{server.DatagramsReceived} datagrams in, {server.DatagramsSent} out, "
                    + $"{server.OversizeDrops} oversize and {server.OverloadDrops} overload drops, {server.HandlerErrors} handler errors; "
                    + $"{summary.Drained} handlers drained, {summary.Aborted} abandoned",
            };
        });
}
