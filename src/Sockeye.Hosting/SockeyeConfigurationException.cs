namespace Sockeye.Hosting;

/// <summary>
/// A listener's configuration has a value Sockeye cannot use; the message names the configuration key
/// and the value, for example <c>Sockeye:Listeners:echo:IdleTimeout: 'soon' is not a duration ...</c>.
/// Thrown when the host starts, before any listener binds its port.
/// </summary>
public sealed class SockeyeConfigurationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SockeyeConfigurationException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong, naming the key and the value.</param>
    public SockeyeConfigurationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What is wrong, naming the key and the value.</param>
    /// <param name="innerException">The error that revealed it.</param>
    public SockeyeConfigurationException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="key"/>.</summary>
    /// <param name="key">The full configuration key, such as <c>Sockeye:Listeners:echo:Port</c>.</param>
    /// <param name="value">The value found there, or <see langword="null"/> when it is missing.</param>
    /// <param name="message">What is wrong, naming the key and the value.</param>
    /// <param name="innerException">The error that revealed it, if any.</param>
    public SockeyeConfigurationException(string key, string? value, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Key = key;
        Value = value;
    }

    /// <summary>The configuration key whose value is wrong.</summary>
    public string? Key { get; }

    /// <summary>The value found at <see cref="Key"/>.</summary>
    public string? Value { get; }
}
