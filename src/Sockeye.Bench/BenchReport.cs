using System.Globalization;
using System.Text;

namespace Sockeye.Bench;

/// <summary>The final table <c>sockeye bench</c> prints (without <c>--json</c>).</summary>
internal static class BenchReport
{
    public static string Format(BenchResult r, BenchSettings settings)
    {
        if (settings.Mode == BenchMode.Udp)
        {
            return FormatUdp(r);
        }

        if (settings.Mode == BenchMode.Fanout)
        {
            return FormatFanout(r, settings);
        }

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

    /// <summary>The udp report: counts, loss and rate, then round-trip percentiles in whole
    /// microseconds (the lines <c>sockeye bench udp</c> has always printed), then the server's CPU
    /// when its pid was given.</summary>
    private static string FormatUdp(BenchResult r)
    {
        var c = CultureInfo.InvariantCulture;
        var text = string.Create(c, $"sent {r.DatagramsSent ?? 0:N0}  received {r.DatagramsReceived ?? 0:N0}  lost {r.DatagramsLost ?? 0:N0} ({r.LossRatio ?? 0:P3})  {r.Throughput:N0} datagrams/s")
            + Environment.NewLine
            + string.Create(c, $"round trip µs: p50 {r.P50Microseconds:F0}  p90 {r.P90Microseconds:F0}  p99 {r.P99Microseconds:F0}  p99.9 {r.P999Microseconds:F0}  max {r.MaxMicroseconds:F0}");
        if (r.ServerCpuMicrosecondsPerOperation is { } serverCpu)
        {
            text += Environment.NewLine + string.Create(c, $"server CPU: {serverCpu:N2} µs per datagram ({r.ServerCpuUtilization:N2} cores busy)");
        }

        return text;
    }

    /// <summary>The fanout report: what was published and what arrived, delivery latency, drops, CPU.</summary>
    private static string FormatFanout(BenchResult r, BenchSettings settings)
    {
        var text = new StringBuilder();
        text.AppendLine($"sockeye bench fanout → {r.Target}: {r.Subscribers:N0} subscribers, {r.Publishers:N0} publishers at {settings.Rate:N0} msg/s each, {r.Rooms:N0} room(s), {r.Size:N0} B messages, {r.Seconds:F1} s measured");
        Row(text, "messages", $"{r.Messages:N0} published ({(r.Seconds > 0 ? r.Messages / r.Seconds : 0):N0}/s)");
        Row(text, "deliveries", $"{r.Operations:N0} of {r.ExpectedDeliveries:N0} expected ({r.Throughput:N0}/s), {r.LostDeliveries:N0} lost");
        Row(text, "latency (µs)", $"p50 {r.P50Microseconds:N1}  p90 {r.P90Microseconds:N1}  p99 {r.P99Microseconds:N1}  p99.9 {r.P999Microseconds:N1}  max {r.MaxMicroseconds:N1}");
        Row(text, "disconnected", $"{r.DisconnectedSubscribers:N0} subscribers, {r.DisconnectedPublishers:N0} publishers (by the server)");
        Row(text, "client CPU", $"{r.ClientCpuMicrosecondsPerOperation:N2} µs per delivery");
        if (r.ServerCpuMicrosecondsPerOperation is { } serverCpu)
        {
            Row(text, "server CPU", $"{serverCpu:N2} µs per delivery ({r.ServerCpuUtilization:N2} cores busy)");
        }

        Row(text, "errors", $"{r.Errors:N0} ({r.ConnectFailures:N0} failed to join), unreadable lines {r.Mismatches:N0}");
        return text.ToString();
    }

    private static void Row(StringBuilder text, string name, string value) => text.AppendLine($"  {name,-18}{value}");

    private static string Mib(long bytes) => $"{bytes / 1048576.0:N1} MiB";
}
