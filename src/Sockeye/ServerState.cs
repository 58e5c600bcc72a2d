namespace Sockeye;

/// <summary>The life stages of a <see cref="TcpServer"/>, in the order it passes through them.</summary>
public enum ServerState
{
    /// <summary>Created; not listening yet.</summary>
    Created,

    /// <summary>Listening and accepting connections.</summary>
    Listening,

    /// <summary>Stopping: no longer accepting; handlers have been asked to finish.</summary>
    Draining,

    /// <summary>Stopped: every connection has ended and the listener is closed.</summary>
    Stopped,
}
