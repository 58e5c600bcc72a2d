namespace Sockeye.Fanout;

/// <summary>Whether an <see cref="IGroupBackplane"/> can carry messages to other instances now.</summary>
public enum BackplaneState
{
    /// <summary>Started, not yet connected for the first time (a broadcast now reaches this instance only).</summary>
    Connecting = 0,

    /// <summary>Connected: broadcasts reach every instance.</summary>
    Connected = 1,

    /// <summary>Was connected, or never managed to, and is trying again on its own: broadcasts reach
    /// this instance's members only, and what should have crossed is counted as lost.</summary>
    Disconnected = 2,
}
