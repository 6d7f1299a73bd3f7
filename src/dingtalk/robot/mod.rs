//! The robot's wire formats: the message DingTalk posts (or sends over Stream) when someone
//! writes to the robot, and the signature on the HTTP request that carries it.

pub mod message;
pub mod sign;

pub use message::RobotMessage;

/// The inbox event type of a robot message.
pub const ROBOT_MESSAGE: &str = "robot_message";
