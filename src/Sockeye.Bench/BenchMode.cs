namespace Sockeye.Bench;

/// <summary>The workloads <c>sockeye bench</c> runs.</summary>
public enum BenchMode
{
    /// <summary>Round trips over long-lived connections.</summary>
    Echo,

    /// <summary>Connections held open and idle, proved alive before and after.</summary>
    Idle,

    /// <summary>Short connections: connect, one round trip, close.</summary>
    Churn,

    /// <summary>Datagrams to a UDP echo server, a window of them in flight per socket: rate, loss, latency.</summary>
    Udp,

    /// <summary>Chat rooms (docs/CHAT.md): publishers send at a fixed rate, every other member of the room
    /// receives each message; deliveries per second, losses, delivery latency, slow-consumer drops.</summary>
    Fanout,
}
