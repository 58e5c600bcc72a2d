using System.Text;

namespace Sockeye.Cli.Commands.Bench;

/// <summary>The final table <c>sockeye bench</c> prints (without <c>--json</c>).</summary>
internal static class BenchReport
{
    public static string Format(BenchResult r, BenchSettings settings)
    {
        var text = new StringBuilder();
        var loop = settings.Mode != BenchMode.Echo ? "" : settings.Rate > 0 ? $", open loop at {settings.Rate:N0}/s" : ", closed loop";
        var tls = settings.Tls ? " over TLS" : "";
        text.AppendLine($"sockeye bench {r.Mode} → {r.Target}{tls}: {r.Connections:N0} connections, {r.Size:N0} B messages, depth {r.Depth}{loop}, {r.Processes} process(es), {r.Seconds:F1} s measured");
        var unit = settings.Mode switch
        {
            BenchMode.Echo => "round trip",
            BenchMode.Churn => "short connection",
            _ => "connection",
        };
        if (settings.Mode == BenchMode.Idle)
        {
            Row(text, "connections", $"{r.ConnectionsHeld:N0} held, {r.Operations:N0} alive after the hold ({r.ConnectFailures:N0} failed to open)");
            if (r.ServerBytesPerConnection is { } perConnection)
            {
                Row(text, "server memory", $"{Mib(r.ServerRssBefore!.Value)} before, {Mib(r.ServerRssHolding!.Value)} holding → {perConnection:N0} bytes per connection");
            }
        }
        else
        {
            Row(text, $"{unit}s", $"{r.Operations:N0} ({r.Throughput:N0}/s)");
            Row(text, "latency (µs)", $"p50 {r.P50Microseconds:N1}  p90 {r.P90Microseconds:N1}  p99 {r.P99Microseconds:N1}  p99.9 {r.P999Microseconds:N1}  max {r.MaxMicroseconds:N1}");
            Row(text, "client CPU", $"{r.ClientCpuMicrosecondsPerOperation:N2} µs per {unit}");
            if (r.ServerCpuMicrosecondsPerOperation is { } serverCpu)
            {
                Row(text, "server CPU", $"{serverCpu:N2} µs per {unit} ({r.ServerCpuUtilization:N2} cores busy)");
            }
        }

        Row(text, "errors", $"{r.Errors:N0}, byte mismatches {r.Mismatches:N0}");
        return text.ToString();
    }

    private static void Row(StringBuilder text, string name, string value) => text.AppendLine($"  {name,-18}{value}");

    private static string Mib(long bytes) => $"{bytes / 1048576.0:N1} MiB";
}
